// The "Spin up environment" step, first in every job's log as on CircleCI: which image the job
// runs (name, digest), whether it came from the cache or was pulled (bytes, seconds), and the
// service containers started beside it.
import type { JobPayload, ServiceContainer } from "../../protocol/index.ts";
import type {
  Sandbox,
  SandboxNetwork,
  SandboxUser,
  ServiceContainer as ServiceHandle,
} from "../driver/types.ts";
import { formatImageRef, parseImageRef } from "./reference.ts";
import { serviceSpec } from "./services.ts";
import { ImagePullError, type ImageStore, type PreparedImage, type RegistryCredentials } from "./store.ts";

export const SPIN_UP_STEP = "Spin up environment";

/** What the sandbox is made from, and what the image adds to the job. */
export interface Environment {
  template: string;
  image?: PreparedImage;
  /** The image's Env (and USER/LOGNAME for its user): the job's `environment` goes over it. */
  env: Record<string, string>;
  user?: SandboxUser;
  /** Service containers to start beside the job's, their images prepared (held until released). */
  services: { service: ServiceContainer; image: PreparedImage }[];
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
  let wanted = payload.image?.name;
  // `machine:` jobs and configs with no image run on the operator's default image, when there is one.
  const fallback = !wanted && !payload.image_mapped && deps.driverKind === "lxc" && deps.images;
  if (fallback) wanted = await deps.images?.defaultImage();
  if (fallback && wanted) say("No docker image for this job (machine: or none): the builder's default image");
  const unstarted = (why: string) => {
    for (const s of payload.services ?? []) say(`Service container ${s.image.name}: not started — ${why}`);
  };
  if (deps.driverKind !== "lxc") {
    say(`Image: ${wanted ?? "none"} — not used: this builder has no LXC and runs the job unsandboxed`);
    unstarted("this builder has no LXC");
    return { template: payload.template, env: {}, services: [] };
  }
  if (!deps.images) unstarted("this builder pulls no images");
  if (!wanted || !deps.images) {
    say(
      wanted
        ? `Image: ${wanted} — this builder pulls no images; template ${payload.template}`
        : `Template: ${payload.template} (the operator's template for ${payloadExecutor(payload)})`,
    );
    if (fallback)
      say(
        "No default image: the job runs on that template (build one with `cairn-builder image build-default`, or choose one with --default-image)",
      );
    return { template: payload.template, env: {}, services: await prepareServices(payload, deps, vars) };
  }
  say(`Image: ${wanted}`);
  const auth = payload.image?.auth ? expandAuth(payload.image.auth, vars) : undefined;
  const image = await deps.images.prepare(wanted, auth);
  if (image.pulledFrom !== formatImageRef(parseImageRef(wanted))) say(`From: ${image.pulledFrom} (mirror)`);
  say(`Digest: ${image.digest}`);
  if (image.stale)
    say(`Warning: the registry could not be asked (${image.stale}); using the digest resolved before`);
  if (image.unasked)
    say(
      `Warning: the registry could not be asked whether this image is still public (${image.unasked}); using the cached image`,
    );
  say(
    image.local && !image.cached
      ? `Built on this host (cairn-builder image build-default); unpacked in ${image.seconds.toFixed(1)} s`
      : image.cached
        ? `Cache hit: root filesystem ready in ${image.seconds.toFixed(2)} s${image.checked ? " (a private image: the registry accepted this job's credentials for it)" : ""}`
        : `Pulled ${(image.bytes / 1e6).toFixed(1)} MB in ${image.seconds.toFixed(1)} s`,
  );
  const env = { ...image.env };
  if (image.user.uid !== 0) {
    say(`User: ${image.user.name} (uid ${image.user.uid}, home ${image.user.home})`);
    env.USER ??= image.user.name;
    env.LOGNAME ??= image.user.name;
  }
  env.HOME ??= image.user.home;
  const services = await prepareServices(payload, deps, vars).catch((err) => {
    deps.images?.release(image);
    throw err;
  });
  return { template: image.template, image, env, user: image.user, services };
}

/** Pulls (or finds cached) each service container's image; on a failure, releases those it held. */
async function prepareServices(
  payload: JobPayload,
  deps: { images?: ImageStore; say: (line: string) => void },
  vars: Record<string, string>,
): Promise<Environment["services"]> {
  const { images, say } = deps;
  const held: Environment["services"] = [];
  if (!images) return held;
  try {
    for (const service of payload.services ?? []) {
      const auth = service.image.auth ? expandAuth(service.image.auth, vars) : undefined;
      const image = await images.prepare(service.image.name, auth);
      held.push({ service, image });
      // Checked now, so a bad entry fails the job before any container exists.
      serviceSpec(service, image, held.length);
      say(
        `Service container ${service.image.name}: ${image.digest}, ${image.cached ? "cached" : `pulled ${(image.bytes / 1e6).toFixed(1)} MB`}`,
      );
    }
  } catch (err) {
    for (const h of held) images.release(h.image);
    throw err;
  }
  return held;
}

/**
 * Starts the prepared service containers beside `sandbox`, in order, saying which came up. A
 * service that cannot start fails the job (its containers go with the sandbox's destroy()).
 */
export async function startServices(
  sandbox: Sandbox,
  services: Environment["services"],
  say: (line: string) => void,
): Promise<{ image: string; container: ServiceHandle }[]> {
  const started: { image: string; container: ServiceHandle }[] = [];
  const names = services.flatMap(({ service }) => (service.name ? [service.name] : []));
  for (const [i, { service, image }] of services.entries()) {
    if (!sandbox.startService) {
      say(
        `Service container ${service.image.name}: not started — this sandbox cannot run service containers`,
      );
      continue;
    }
    const peers = names.filter((n) => n !== service.name);
    const container = await sandbox.startService({ ...serviceSpec(service, image, i + 1), peers });
    started.push({ image: service.image.name, container });
    const reach = service.name ? `localhost and ${service.name}` : "localhost";
    say(`Service container ${service.image.name}: started as ${container.name}, reachable on ${reach}`);
  }
  return started;
}

/**
 * The network the job got, as its log says it: `Network: egress only (NAT) — 10.213.0.5 on cairn0; …`
 * or `Network: none (loopback only) — the project's setting`. `requested` is the payload's `network`.
 */
export function describeNetwork(
  network: SandboxNetwork | undefined,
  requested: "egress" | "none" | undefined,
  /** The job's resource class, when the class itself asks for no network. */
  noneByClass?: string,
): string {
  if (!network)
    return "Network: the process driver's (an empty network namespace where unshare works, else the host's own)";
  if (network.mode === "none") {
    const why =
      requested === "none"
        ? "the project's setting"
        : noneByClass
          ? `resource class ${noneByClass} on this builder`
          : "this builder runs with --network none";
    return `Network: none (loopback only) — ${why}`;
  }
  const allow = network.allow?.length ? `; allowed past the blocks: ${network.allow.join(", ")}` : "";
  const dns = network.dns?.length
    ? `; DNS: ${network.dns.join(", ")}`
    : "; no DNS resolver (the builder has no --nat-dns): use addresses";
  return (
    `Network: egress only (NAT) — ${network.address} on ${network.bridge}; nothing connects in; ` +
    `the host, its networks, private and link-local ranges are blocked${allow}${dns}`
  );
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
