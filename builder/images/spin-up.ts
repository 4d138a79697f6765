// The "Spin up environment" step, first in every job's log as on CircleCI: which image the job
// runs (name, digest), and whether it came from the cache or was pulled (bytes, seconds).
import type { JobPayload } from "../../protocol/index.ts";
import type { SandboxUser } from "../driver/types.ts";
import { formatImageRef, parseImageRef } from "./reference.ts";
import { ImagePullError, type ImageStore, type PreparedImage, type RegistryCredentials } from "./store.ts";

export const SPIN_UP_STEP = "Spin up environment";

/** What the sandbox is made from, and what the image adds to the job. */
export interface Environment {
  template: string;
  image?: PreparedImage;
  /** The image's Env (and USER/LOGNAME for its user): the job's `environment` goes over it. */
  env: Record<string, string>;
  user?: SandboxUser;
}

/**
 * Prepares the job's image (LXC with an image store) or names the template it runs on, writing
 * the step's lines with `say`. Throws ImagePullError with the registry's words when the pull fails.
 */
export async function spinUp(
  payload: JobPayload,
  deps: { images?: ImageStore; driverKind: "lxc" | "process"; say: (line: string) => void },
  vars: Record<string, string>,
): Promise<Environment> {
  const { say } = deps;
  const wanted = payload.image?.name;
  if (deps.driverKind !== "lxc") {
    say(`Image: ${wanted ?? "none"} — not used: this builder has no LXC and runs the job unsandboxed`);
    return { template: payload.template, env: {} };
  }
  if (!wanted || !deps.images) {
    say(
      wanted
        ? `Image: ${wanted} — this builder pulls no images; template ${payload.template}`
        : `Template: ${payload.template} (the operator's template for ${payloadExecutor(payload)})`,
    );
    return { template: payload.template, env: {} };
  }
  say(`Image: ${wanted}`);
  const auth = payload.image?.auth ? expandAuth(payload.image.auth, vars) : undefined;
  const image = await deps.images.prepare(wanted, auth);
  if (image.pulledFrom !== formatImageRef(parseImageRef(wanted))) say(`From: ${image.pulledFrom} (mirror)`);
  say(`Digest: ${image.digest}`);
  if (image.stale)
    say(`Warning: the registry could not be asked (${image.stale}); using the digest resolved before`);
  say(
    image.cached
      ? `Cache hit: root filesystem ready in ${image.seconds.toFixed(2)} s`
      : `Pulled ${(image.bytes / 1e6).toFixed(1)} MB in ${image.seconds.toFixed(1)} s`,
  );
  const env = { ...image.env };
  if (image.user.uid !== 0) {
    say(`User: ${image.user.name} (uid ${image.user.uid}, home ${image.user.home})`);
    env.USER ??= image.user.name;
    env.LOGNAME ??= image.user.name;
  }
  env.HOME ??= image.user.home;
  return { template: image.template, image, env, user: image.user };
}

const payloadExecutor = (p: JobPayload) => (p.image_mapped ? `image ${p.image_mapped}` : "this job");

/** `$NAME`/`${NAME}` in the config's `auth:` values come from the job's variables (project secrets). */
function expandAuth(auth: RegistryCredentials, vars: Record<string, string>): RegistryCredentials {
  const expand = (v: string) =>
    v.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_m, name: string) => {
      if (!(name in vars))
        throw new ImagePullError(`the image's auth names $${name}, which this job does not have`);
      return vars[name]!;
    });
  return { username: expand(auth.username), password: expand(auth.password) };
}
