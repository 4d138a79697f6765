// The fleet host's image store: a job's `docker: - image:` becomes an LXC template whose rootfs is
// the image, unpacked once per manifest digest; each job is a copy-on-write clone of it. Tags are
// re-resolved at most every `resolveMinutes`; `@sha256:` pins never are. Whether a cached image is
// still public is asked again at most every `accessMinutes`, pinned or not. See scripts.ts for the
// host side and docs/fleet-host.md for the layout.
import { createHash } from "node:crypto";
import type { HostTransport } from "../driver/types.ts";
import { formatImageRef, type ImageRef, rewriteImage } from "./reference.ts";
import { BUILD_DEFAULT, COLLECT, PREPARE } from "./scripts.ts";

export interface ImageSettings {
  /** The store on the fleet host (default /var/lib/cairn/images). */
  dir?: string;
  /** A tag resolved less than this long ago is not asked for again (default 10). */
  resolveMinutes?: number;
  /**
   * A cached image found public (its manifest served without credentials) less than this long ago
   * is served from the cache without asking; older, the registry is asked again before a cache hit,
   * and an image it now refuses needs the job's own credentials (default `resolveMinutes`).
   */
  accessMinutes?: number;
  /** Size budget of the unpacked rootfs cache (default 20 GiB); least recently used go first. */
  budgetBytes?: number;
  /** Image pattern → where to pull it from instead (reference.ts `rewriteImage`). */
  mirrors?: Record<string, string>;
  /** `host:port` of registries spoken to over plain HTTP (or unverified TLS). */
  insecureRegistries?: string[];
  /** Per-registry credentials, already opened (identity.ts keeps them sealed). */
  credentials?: Record<string, RegistryCredentials>;
  /** Seconds a just-used rootfs is safe from collection (it may be about to be cloned; default 600). */
  graceSeconds?: number;
  /** Seconds one registry request may take before the pull fails (default 300). */
  timeoutSeconds?: number;
  /**
   * What `machine:` jobs and jobs with no image run on (`--default-image`). Unset: the image
   * `cairn-builder image build-default` last built in this store, if any, else the job's template.
   */
  defaultImage?: string;
  /** The operator chose a template (`--default-template`, e.g. the host-/usr `cairn-base`) over any built image. */
  defaultTemplate?: string;
}

/** What the default image holds on top of mmdebstrap's minbase: enough for CircleCI's steps and checkout. */
export const DEFAULT_IMAGE_PACKAGES = ["bash", "git", "ca-certificates", "curl", "openssh-client"];

export interface DefaultImageBuild {
  name: string;
  digest: string;
  /** The root filesystem tarball came from the cache (same suite, packages and mirror) or was built now. */
  tarball: "cached" | "built";
  mirror: string;
}

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** An image ready to clone, and what its config asks of the processes started in it. */
export interface PreparedImage {
  /** As the config wrote it. */
  name: string;
  /** Where it came from, after the mirror map: `registry/repository:tag`. */
  pulledFrom: string;
  /** The manifest digest: the cache key, and what the job page shows. */
  digest: string;
  /** The LXC template whose rootfs is this image. */
  template: string;
  cached: boolean;
  /**
   * A cache hit of an image that needed credentials: the registry accepted this job's own for it
   * (a manifest request) before the cache was used. Without them the pull fails as any refused one.
   */
  checked?: boolean;
  /** Bytes fetched from the registry (0 on a cache hit). */
  bytes: number;
  seconds: number;
  /** The registry could not be asked and a cached resolution of the tag was used; its words. */
  stale?: string;
  /**
   * A cache hit of a public image whose mark had expired: the registry could not be asked whether
   * it still is, and the cache was used as for a public image; its words.
   */
  unasked?: string;
  /** Built on this host (build-default.sh), not pulled: no registry was asked. */
  local?: boolean;
  /** The image's `Env`, as NAME → value. */
  env: Record<string, string>;
  /** The image's `User`, resolved against its /etc/passwd by umoci; home from that file. */
  user: { uid: number; gid: number; home: string; name: string };
  /** The image's `WorkingDir` ("" when unset). */
  workdir: string;
  /** The image's `Entrypoint` and `Cmd`: what a service container runs unless its config says otherwise. */
  entrypoint: string[];
  cmd: string[];
  /** Its /etc/passwd, for a service's `user:` by name. */
  passwd: PasswdEntry[];
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export class ImagePullError extends Error {
  readonly code = "image_pull_failed";
}

const DEFAULT_DIR = "/var/lib/cairn/images";

export class ImageStore {
  /** Digests of images prepared for jobs still running here: never collected. */
  private held = new Map<string, number>();
  private readonly dir: string;

  constructor(
    private readonly transport: HostTransport,
    private readonly settings: ImageSettings,
    private readonly lxc: { lxcPath?: string; baseTemplate: string },
  ) {
    this.dir = settings.dir ?? DEFAULT_DIR;
  }

  /** The reference `name` is pulled from, after the mirror map. */
  resolveName(name: string): ImageRef {
    return rewriteImage(name, this.settings.mirrors);
  }

  /**
   * Resolves, pulls if not cached, unpacks, and returns the image's template, held until release().
   * `auth` (the config's `auth:` block) wins over the builder's credentials for the registry.
   */
  async prepare(name: string, auth?: RegistryCredentials): Promise<PreparedImage> {
    const started = performance.now();
    const ref = this.resolveName(name);
    const repo = `${ref.registry}/${ref.repository}`;
    const creds = auth ?? this.settings.credentials?.[ref.registry];
    const lxcPath = this.lxc.lxcPath ?? (await this.lxcPath());
    const r = await this.transport.exec(
      [
        "sh",
        "-c",
        PREPARE,
        "cairn-image",
        this.dir,
        repo,
        ref.digest ?? ref.tag ?? "latest",
        createHash("sha256").update(formatImageRef(ref)).digest("hex"),
        String(Math.round((this.settings.resolveMinutes ?? 10) * 60)),
        this.settings.insecureRegistries?.includes(ref.registry) ? "insecure" : "tls",
        creds ? "auth" : "-",
        lxcPath,
        this.lxc.baseTemplate,
        `${this.settings.timeoutSeconds ?? 300}s`,
        String(Math.round((this.settings.accessMinutes ?? this.settings.resolveMinutes ?? 10) * 60)),
      ],
      // skopeo reads the credentials from a 0600 temp file the script removes; never from argv.
      creds ? { stdin: authFile(ref.registry, creds) } : {},
    );
    const pulledFrom = formatImageRef(ref);
    if (r.code === 10) {
      const words = r.stdout.split("\n").find((l) => l.startsWith("registry: ")) ?? "registry: (no message)";
      throw new ImagePullError(
        `cannot pull image ${name} from ${ref.registry} (${pulledFrom}): ${words.slice(10)}`,
      );
    }
    if (r.code !== 0)
      throw new ImagePullError(`preparing image ${name} failed: ${(r.stdout + r.stderr).trim()}`);
    const prepared = parseOutput(r.stdout, name, pulledFrom);
    prepared.seconds = (performance.now() - started) / 1000;
    this.held.set(prepared.digest, (this.held.get(prepared.digest) ?? 0) + 1);
    if (!prepared.cached) await this.collect().catch(() => {});
    return prepared;
  }

  /**
   * The image a job with no image of its own runs on: the operator's `--default-image`, else the one
   * build-default made in this store; undefined when the operator chose a template, or none exists.
   */
  async defaultImage(): Promise<string | undefined> {
    if (this.settings.defaultImage) return this.settings.defaultImage;
    if (this.settings.defaultTemplate) return undefined;
    const r = await this.transport.exec(["cat", `${this.dir}/default-image`]);
    return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
  }

  /**
   * Builds a Debian image with mmdebstrap (the tarball cached in `cacheDir`, keyed by suite, packages
   * and mirror), imports it into the store as the local image `name`, and makes it the store's default.
   */
  async buildDefault(opts: {
    suite?: string;
    name?: string;
    cacheDir?: string;
    mirror?: string;
    packages?: string[];
  }): Promise<DefaultImageBuild> {
    const suite = opts.suite ?? "bookworm";
    const name = opts.name ?? `cairn/debian:${suite}`;
    const ref = this.resolveName(name);
    const r = await this.transport.exec([
      "sh",
      "-c",
      BUILD_DEFAULT,
      "cairn-image-build",
      this.dir,
      suite,
      createHash("sha256").update(formatImageRef(ref)).digest("hex"),
      name,
      opts.cacheDir ?? `${this.dir}/tarballs`,
      opts.mirror ?? "-",
      (opts.packages ?? DEFAULT_IMAGE_PACKAGES).join(","),
    ]);
    const kv = Object.fromEntries(
      r.stdout
        .split("\n")
        .filter((l) => l.includes("="))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    if (r.code !== 0 || !kv.digest)
      throw new ImagePullError(`building the default image ${name} failed: ${(r.stdout + r.stderr).trim()}`);
    return {
      name,
      digest: kv.digest,
      tarball: kv.tarball === "cached" ? "cached" : "built",
      mirror: kv.mirror ?? "",
    };
  }

  /** The job that prepared `image` is done with it (its clone is gone). */
  release(image: PreparedImage): void {
    const n = (this.held.get(image.digest) ?? 1) - 1;
    if (n > 0) this.held.set(image.digest, n);
    else this.held.delete(image.digest);
  }

  /** Evicts least recently used images until the cache fits its budget (or `budgetBytes`); returns their digests. */
  async collect(budgetBytes = this.settings.budgetBytes ?? 20 * 1024 ** 3): Promise<string[]> {
    const r = await this.transport.exec([
      "sh",
      "-c",
      COLLECT,
      "cairn-image-gc",
      this.dir,
      this.lxc.lxcPath ?? (await this.lxcPath()),
      String(budgetBytes),
      String(this.settings.graceSeconds ?? 600),
      ...this.held.keys(),
    ]);
    if (r.code !== 0) throw new ImagePullError(`collecting images failed: ${r.stderr.trim()}`);
    return r.stdout.split("\n").filter((l) => l.startsWith("sha256:"));
  }

  private lxcPathCache?: string;
  private async lxcPath(): Promise<string> {
    if (!this.lxcPathCache) {
      const r = await this.transport.exec(["lxc-config", "lxc.lxcpath"]);
      this.lxcPathCache = r.stdout.trim() || "/var/lib/lxc";
    }
    return this.lxcPathCache;
  }
}

/** containers-auth.json(5) for one registry. */
function authFile(registry: string, c: RegistryCredentials): string {
  const auth = Buffer.from(`${c.username}:${c.password}`).toString("base64");
  return JSON.stringify({ auths: { [registry]: { auth } } });
}

interface RuntimeConfig {
  process?: { env?: string[]; cwd?: string; args?: string[]; user?: { uid?: number; gid?: number } };
}

interface ImageConfig {
  config?: { Entrypoint?: string[] | null; Cmd?: string[] | null };
}

function parseOutput(stdout: string, name: string, pulledFrom: string): PreparedImage {
  const [head = "", rest = ""] = stdout.split("\n--- config.json\n");
  const [json = "{}", after = ""] = rest.split("\n--- passwd\n");
  const [passwd = "", imageJson = ""] = after.split("\n--- image\n");
  // A bundle unpacked before Entrypoint and Cmd were kept apart: umoci's args are both.
  const image = (imageJson.trim() ? JSON.parse(imageJson) : {}) as ImageConfig;
  const kv = Object.fromEntries(
    head
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  const config = JSON.parse(json) as RuntimeConfig;
  const env: Record<string, string> = {};
  for (const e of config.process?.env ?? []) {
    const i = e.indexOf("=");
    if (i > 0) env[e.slice(0, i)] = e.slice(i + 1);
  }
  // umoci adds TERM=xterm for its own terminal; a build's TERM is Cairn's to set.
  delete env.TERM;
  const uid = config.process?.user?.uid ?? 0;
  const gid = config.process?.user?.gid ?? 0;
  const users = parsePasswd(passwd);
  const entry = users.find((u) => u.uid === uid);
  // Docker's rule: HOME from the user's passwd entry, else / (root's is /root).
  const home = entry?.home || (uid === 0 ? "/root" : "/");
  return {
    name,
    pulledFrom,
    digest: kv.digest ?? "",
    template: kv.template ?? "",
    cached: kv.cached === "1",
    ...(kv.checked === "1" ? { checked: true } : {}),
    ...(kv.local === "1" ? { local: true } : {}),
    bytes: Number(kv.bytes ?? 0),
    seconds: 0,
    ...(kv.stale ? { stale: kv.stale.replace(/^registry: /, "") } : {}),
    ...(kv.unasked ? { unasked: kv.unasked } : {}),
    env,
    user: { uid, gid, home, name: entry?.name ?? (uid === 0 ? "root" : String(uid)) },
    workdir: config.process?.cwd && config.process.cwd !== "/" ? config.process.cwd : "",
    entrypoint: image.config ? (image.config.Entrypoint ?? []) : (config.process?.args ?? []),
    cmd: image.config?.Cmd ?? [],
    passwd: users,
  };
}

function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split("\n")
    .map((l) => l.split(":"))
    .filter((f) => f.length >= 6 && /^\d+$/.test(f[2]!) && /^\d+$/.test(f[3]!))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }));
}
