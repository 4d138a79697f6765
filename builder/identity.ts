// The builder's identity on its fleet host: server URL, builder token and NaCl box key pair, in a
// 0600 file. The private key never leaves this host; job secrets are sealed to its public half.
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { openSealedSecrets, type SealedSecrets } from "../protocol/index.ts";
import type { ImageSettings, RegistryCredentials } from "./images/store.ts";
import type { ResourceClassSpec } from "./resources.ts";

export type TransportConfig =
  | { kind: "local" }
  | {
      kind: "ssh";
      host: string;
      port?: number;
      username: string;
      private_key_file: string;
      host_key: string;
    };

/** One LXC host the daemon drives; `hosts` in builder.json (`--lxc-host` at registration). */
export interface HostConfig {
  transport: TransportConfig;
  /** Job slices this host runs at once; the builder's capacity is the sum over its hosts. */
  slots: number;
  /** LXC's container directory on this host (lxc-* -P); default the system's. */
  lxc_path?: string;
  /** Memory (MiB) handed out to jobs on this host by resource class; default the builder's memory_mb. */
  memory_mb?: number;
}

/** Egress for containers: an egress-only NAT bridge (an LXC builder's default); absent: loopback only (`--network none`). */
export interface NetworkConfig {
  mode: "nat";
  /** Bridge on each host, made if missing (`cairn0`). */
  bridge: string;
  /** IPv4 subnet of the bridge (`10.213.0.0/24`); the host takes its first address. */
  subnet: string;
  /** Public resolvers written to the container's /etc/resolv.conf (the host offers no DNS). */
  dns?: string[];
  /** Further destinations containers may not reach (a LAN on public addresses, say). */
  deny?: string[];
  /** `ADDRESS[/N]:PORT` exceptions to every block (a registry or package mirror): `--allow-egress`. */
  allow?: string[];
}

/** The fleet hosts' image stores (builder/images); every field optional. */
export interface ImagesConfig {
  /** Store directory on each host (default /var/lib/cairn/images). */
  dir?: string;
  /** A tag is re-resolved at most this often (default 10 minutes); `@sha256:` pins never are. */
  resolve_minutes?: number;
  /** Size budget of the unpacked images (default 20480 MiB), least recently used evicted first. */
  budget_mb?: number;
  /** Image pattern → where to pull it from: `{"cimg/*": "mirror.internal/cimg/*"}`. */
  mirrors?: Record<string, string>;
  /** `host:port` of registries spoken to over plain HTTP (`--insecure-registry`). */
  insecure_registries?: string[];
  /**
   * Per-registry credentials (`cairn-builder registry-login`), sealed to this builder's own box key
   * like a job's secrets: registry host → JSON `{"username","password"}`.
   */
  credentials?: SealedSecrets;
  /** What `machine:` jobs and jobs with no image run on (`--default-image`); default: the built one. */
  default_image?: string;
  /** The operator's explicit choice of a template instead (`--default-template`, e.g. the host-/usr `cairn-base`). */
  default_template?: string;
}

export interface BuilderIdentity {
  server: string;
  builder_id: string;
  token: string;
  name: string;
  box_public_key: string;
  box_secret_key: string;
  slots: number;
  driver: "auto" | "lxc" | "process";
  transport: TransportConfig;
  template?: string;
  /** Memory (MiB) this builder hands out to jobs by resource class; default the host's total. */
  memory_mb?: number;
  /** LXC's container directory (lxc-* -P); default the system's (/var/lib/lxc). */
  lxc_path?: string;
  /** Several LXC hosts driven by this one daemon; when absent, `transport`/`slots`/`lxc_path` are the one host. */
  hosts?: HostConfig[];
  /** Container network; absent: loopback only (`--network none`, or an identity from before NAT was the default). */
  network?: NetworkConfig;
  /** Jobs' `docker` images: where they are stored, pulled from, and with which credentials. */
  images?: ImagesConfig;
  /**
   * The operator's resource classes over CircleCI's (`--resource-classes FILE`): name →
   * `{cpus, memory, pids, disk, network}`; checked when the daemon starts.
   */
  resource_classes?: Record<string, ResourceClassSpec>;
  /** SSH into builds: where this builder's SSH server listens (`host:port`, port 0 for any). */
  ssh_listen?: string;
  /** The host users reach that server at, shown in the `ssh` command (default: the listen host). */
  ssh_advertise?: string;
  /** An open SSH connection the server has not confirmed for longer than this is ended (`--ssh-confirm-within`; 30). */
  ssh_confirm_within_s?: number;
  /** The SSH server's private host key (OpenSSH), made at registration. */
  ssh_host_key?: string;
  /** PEM of the server's CA, pinned at registration (`--ca`): the server must present a certificate it signed. */
  server_ca?: string;
  /** The operator accepted plain HTTP to a server that is not on loopback (`--insecure-http`). */
  insecure_http?: boolean;
}

export async function saveIdentity(path: string, id: BuilderIdentity): Promise<void> {
  await writeFile(path, `${JSON.stringify(id, null, 2)}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}

export async function loadIdentity(path: string): Promise<BuilderIdentity> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new Error(`no builder identity at ${path}: run \`cairn-builder register\` first`);
  }
  const st = await stat(path);
  if ((st.mode & 0o077) !== 0) {
    throw new Error(
      `${path} holds the builder's token and private key but others can read it: chmod 600 ${path}`,
    );
  }
  return JSON.parse(text) as BuilderIdentity;
}

/** The hosts this builder drives: `hosts`, or the single host of the older fields. */
export function hostsOf(id: BuilderIdentity): HostConfig[] {
  if (id.hosts?.length) return id.hosts;
  return [{ transport: id.transport, slots: id.slots, lxc_path: id.lxc_path, memory_mb: id.memory_mb }];
}

/** The image store's settings from the identity, with the sealed registry credentials opened. */
export function imageSettings(id: BuilderIdentity): ImageSettings {
  const c = id.images ?? {};
  const credentials: Record<string, RegistryCredentials> = {};
  if (c.credentials) {
    const opened = openSealedSecrets(c.credentials, id.box_secret_key, REGISTRY_CREDENTIALS_CONTEXT);
    for (const [host, json] of Object.entries(opened))
      credentials[host] = JSON.parse(json) as RegistryCredentials;
  }
  return {
    dir: c.dir,
    resolveMinutes: c.resolve_minutes,
    budgetBytes: c.budget_mb === undefined ? undefined : c.budget_mb * 1024 * 1024,
    mirrors: c.mirrors,
    insecureRegistries: c.insecure_registries,
    credentials,
    defaultImage: c.default_image,
    defaultTemplate: c.default_template,
  };
}

/** The context registry credentials are sealed under in the identity file. */
export const REGISTRY_CREDENTIALS_CONTEXT = "registry-credentials";
