// Test harness: a real OpenSSH sshd on 127.0.0.1 with its own config, host key and a throwaway
// client key, all in a temp dir. The system's sshd and its config are never touched.
//
//   const sshd = await startSshd();
//   const transport = await createSshTransport(sshdLogin(sshd));
//   ...
//   await sshd.stop();
//
// `ssh -i clientKeyPath -o UserKnownHostsFile=knownHostsPath -p port root@127.0.0.1` works too.
// Logs in as root (the LXC driver needs it); authorized_keys holds only the throwaway key.
// `const skip = requireSshd();` at a test file's top level gates on sshd (see tests/harness/lxc.ts).

import { test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sweepOnce } from "./runs.ts";

export interface TestSshd {
  host: "127.0.0.1";
  port: number;
  username: "root";
  clientKeyPath: string;
  clientPrivateKey: string;
  /** OpenSSH public key line of the host key, for pinning. */
  hostPublicKey: string;
  /** known_hosts file with `[127.0.0.1]:port <key>`, for the OpenSSH client. */
  knownHostsPath: string;
  /** The listening sshd's pid; each connection is served by a child of it. */
  pid: number;
  /** Lets another public key (an OpenSSH line, e.g. a project's deploy key) log in as root too. */
  addAuthorizedKey(publicKey: string): void;
  /** sshd's stderr so far (it runs with -e), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** How an ssh2 client logs in to it: address, user, client key and the pinned host key. */
export const sshdLogin = (sshd: TestSshd) => ({
  host: sshd.host,
  port: sshd.port,
  username: sshd.username,
  privateKey: sshd.clientPrivateKey,
  hostKey: sshd.hostPublicKey,
});

export const SSHD_PATH = "/usr/sbin/sshd";

/** Why the harness sshd cannot run here, or undefined when it can. */
export function sshdMissingReason(): string | undefined {
  if (!existsSync(SSHD_PATH)) return `${SSHD_PATH} not found (apt-get install -y openssh-server)`;
  if (spawnSync("ssh-keygen", ["-?"]).error)
    return "ssh-keygen not found (apt-get install -y openssh-client)";
  // sshd can only log users in, root included, when it runs as root.
  if (process.getuid?.() !== 0) return "not running as root (sshd needs root to log a user in)";
  return undefined;
}

/**
 * Call at a test file's top level: true when sshd tests should be skipped. Under
 * CAIRN_REQUIRE_LXC=1 a missing sshd registers a failing test that says why instead.
 */
export function requireSshd(): boolean {
  const reason = sshdMissingReason();
  if (!reason) return false;
  if (process.env.CAIRN_REQUIRE_LXC === "1") {
    test(`sshd is required here (CAIRN_REQUIRE_LXC=1): ${reason}`, () => {
      throw new Error(`CAIRN_REQUIRE_LXC=1 but sshd tests cannot run: ${reason}`);
    });
  }
  return true;
}

export interface SshdOptions {
  /** sshd's MaxSessions (channels per connection); 64 unless a test needs a tight one. */
  maxSessions?: number;
}

export async function startSshd(opts: SshdOptions = {}): Promise<TestSshd> {
  if (!existsSync(SSHD_PATH)) throw new Error(`${SSHD_PATH} not found: apt-get install -y openssh-server`);
  // sshd carries this run's mark (tests/harness/runs.ts): a sweep after a kill finds it.
  await sweepOnce();
  const dir = mkdtempSync(join(tmpdir(), "cairn-sshd-"));
  try {
    return await startIn(dir, opts.maxSessions ?? 64);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function startIn(dir: string, maxSessions: number): Promise<TestSshd> {
  const hostKey = join(dir, "ssh_host_ed25519_key");
  const clientKey = join(dir, "client_ed25519");
  keygen(hostKey);
  keygen(clientKey);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(`${clientKey}.pub`), { mode: 0o600 });
  // sshd's privilege separation directory; a host without a running sshd may lack it.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const hostPublicKey = readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");

  // Another process may grab the port between probing and sshd's bind: retry with a new one.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = join(dir, "sshd_config");
    writeFileSync(config, sshdConfig(dir, hostKey, port, maxSessions));
    let stderr = "";
    const child = spawn(SSHD_PATH, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    const exited = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
    const up = await Promise.race([waitForBanner(port), exited.then(() => false)]);
    if (!up) {
      child.kill("SIGKILL");
      if (attempt < 3 && /Address already in use/.test(stderr)) continue;
      throw new Error(`sshd did not start on 127.0.0.1:${port}:\n${stderr}`);
    }
    const knownHostsPath = join(dir, "known_hosts");
    writeFileSync(knownHostsPath, `[127.0.0.1]:${port} ${hostPublicKey}\n`);
    return {
      host: "127.0.0.1",
      port,
      username: "root",
      clientKeyPath: clientKey,
      clientPrivateKey: readFileSync(clientKey, "utf8"),
      hostPublicKey,
      knownHostsPath,
      pid: child.pid ?? 0,
      addAuthorizedKey: (publicKey: string) =>
        appendFileSync(join(dir, "authorized_keys"), `${publicKey.trim()}\n`),
      log: () => stderr,
      async stop() {
        if (child.exitCode === null) {
          child.kill("SIGTERM");
          await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
          if (child.exitCode === null) child.kill("SIGKILL");
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

function sshdConfig(dir: string, hostKey: string, port: number, maxSessions: number): string {
  return [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "PermitRootLogin prohibit-password",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "StrictModes no",
    // The transport runs many exec channels on one connection.
    `MaxSessions ${maxSessions}`,
    "MaxStartups 64:30:128",
    "LogLevel ERROR",
    // bash sources ~/.bashrc for a top-level command from sshd (SHLVL unset). This image's root
    // .bashrc runs `pyenv init`, seconds per command under load; SHLVL=1 makes bash skip it.
    "SetEnv SHLVL=1",
    "",
  ].join("\n");
}

function keygen(path: string): void {
  const r = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "cairn-test", "-f", path]);
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr?.toString() ?? r.error}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True once something on the port speaks SSH; gives up after 10 s. */
async function waitForBanner(port: number): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, "127.0.0.1");
      sock.setTimeout(1_000);
      sock.once("data", (b) => {
        sock.destroy();
        resolve(b.toString().startsWith("SSH-"));
      });
      sock.once("error", () => resolve(false));
      sock.once("timeout", () => {
        sock.destroy();
        resolve(false);
      });
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
