// The builder's identity on its fleet host: server URL, builder token and NaCl box key pair, in a
// 0600 file. The private key never leaves this host; job secrets are sealed to its public half.
import { chmod, readFile, stat, writeFile } from "node:fs/promises";

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
  /** SSH into builds: where this builder's SSH server listens (`host:port`, port 0 for any). */
  ssh_listen?: string;
  /** The host users reach that server at, shown in the `ssh` command (default: the listen host). */
  ssh_advertise?: string;
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
