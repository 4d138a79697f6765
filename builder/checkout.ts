// The `checkout` step: git runs on the fleet host (through the host transport), never in the
// container, and the tree is handed in with putTree, so a container without network still builds.
// With a deploy key the clone uses only that key and only the project's pinned host keys
// (StrictHostKeyChecking=yes), from a 0700 temp dir on the host that is removed whatever happens;
// the key is not in the tree and never enters the container.
import type { JobPayload } from "../protocol/index.ts";
import { checkoutKeyContext, openSealedSecrets } from "../protocol/index.ts";
import type { HostTransport, Sandbox } from "./driver/types.ts";

export interface CheckoutDeps {
  transport: HostTransport;
  /** This builder's NaCl box secret key (base64): opens the sealed deploy key. */
  boxSecretKey?: string;
}

export interface CheckoutLog {
  write(bytes: Uint8Array): void;
}

const enc = new TextEncoder();
const note = (text: string) => enc.encode(`\x1b[2m${text}\x1b[0m\r\n`);
const isSshUrl = (url: string) =>
  url.startsWith("ssh://") || url.startsWith("git+ssh://") || /^[\w.-]+@[\w.-]+:/.test(url);
const q = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;

/** git's ssh for a deploy-key checkout: this key only, these host keys only, no prompts, no ~/.ssh/config. */
export function gitSshCommand(keyFile: string, knownHostsFile: string): string {
  return [
    "ssh -F /dev/null",
    `-i ${q(keyFile)}`,
    "-o IdentitiesOnly=yes",
    `-o UserKnownHostsFile=${q(knownHostsFile)}`,
    "-o GlobalKnownHostsFile=/dev/null",
    "-o StrictHostKeyChecking=yes",
    "-o BatchMode=yes",
  ].join(" ");
}

/** The host part of a git URL, for messages. */
function hostOf(url: string): string {
  const m = /^(?:git\+)?ssh:\/\/(?:[^@/]+@)?([^/]+)/.exec(url) ?? /^[\w.-]+@([\w.-]+):/.exec(url);
  return m?.[1] ?? url;
}

async function writeHostFile(transport: HostTransport, path: string, content: string): Promise<void> {
  // umask first: the file never exists with wider permissions, not even for a moment.
  const r = await transport.exec(["sh", "-c", 'umask 077; cat > "$1"', "sh", path], { stdin: content });
  if (r.code !== 0) throw new Error(`cannot write ${path} on the host: ${r.stderr.trim()}`);
}

export function openDeployKey(deps: CheckoutDeps, payload: JobPayload): string | null {
  const sealed = payload.checkout.deploy_key;
  if (!sealed) return null;
  if (!deps.boxSecretKey)
    throw new Error("this job has a deploy key but the builder has no box key to open it");
  try {
    const key = openSealedSecrets(sealed, deps.boxSecretKey, checkoutKeyContext(payload.job.id)).private_key;
    if (!key) throw new Error("it holds no private_key");
    return key;
  } catch (err) {
    throw new Error(`cannot open this job's deploy key: ${(err as Error).message}`);
  }
}

/** Clones on the fleet host, then hands the tree into the sandbox at `dest`. Returns git's exit code. */
export async function checkout(
  deps: CheckoutDeps,
  payload: JobPayload,
  sandbox: Sandbox,
  dest: string,
  log: CheckoutLog,
): Promise<number> {
  const { transport } = deps;
  const { repo_url, sha } = payload.checkout;
  const deployKey = openDeployKey(deps, payload);
  log.write(
    note(
      `Cloning ${repo_url} at ${sha.slice(0, 12)} into ${dest}${deployKey ? " with the project's deploy key" : ""}`,
    ),
  );
  if (deployKey && isSshUrl(repo_url) && !payload.checkout.known_hosts?.trim()) {
    log.write(
      note(
        "Checkout refused: the project has a deploy key but no known_hosts; set the host keys to pin (PATCH /api/v1/projects/:id).",
      ),
    );
    return 1;
  }
  const tmp = await transport.exec(["mktemp", "-d", "/tmp/cairn-checkout-XXXXXXXX"]);
  if (tmp.code !== 0) throw new Error(`cannot make a checkout directory on the host: ${tmp.stderr.trim()}`);
  const dir = tmp.stdout.trim();
  let keyDir: string | null = null;
  const out = (bytes: Uint8Array) => log.write(bytes);
  try {
    let env: Record<string, string> | undefined;
    if (deployKey) {
      // mktemp -d makes the directory 0700; the key file inside is 0600.
      const k = await transport.exec(["mktemp", "-d", "/tmp/cairn-key-XXXXXXXX"]);
      if (k.code !== 0) throw new Error(`cannot make a key directory on the host: ${k.stderr.trim()}`);
      keyDir = k.stdout.trim();
      await writeHostFile(transport, `${keyDir}/id`, deployKey.endsWith("\n") ? deployKey : `${deployKey}\n`);
      await writeHostFile(transport, `${keyDir}/known_hosts`, payload.checkout.known_hosts ?? "");
      env = {
        GIT_SSH_COMMAND: gitSshCommand(`${keyDir}/id`, `${keyDir}/known_hosts`),
        GIT_TERMINAL_PROMPT: "0",
      };
    }
    const git = (args: string[]) =>
      transport.exec(["git", "-c", "protocol.ext.allow=never", ...args], {
        env,
        onStdout: out,
        onStderr: out,
      });
    let r = await git(["clone", "--quiet", "--no-checkout", "--", repo_url, dir]);
    if (r.code !== 0) {
      if (/Host key verification failed/i.test(r.stderr)) {
        log.write(
          note(
            `Checkout failed: host key verification failed for ${hostOf(repo_url)}: its SSH host key is not one the project's known_hosts pins. ` +
              "If the server's key changed on purpose, update the project's known_hosts.",
          ),
        );
      } else if (/Permission denied \(publickey/i.test(r.stderr)) {
        log.write(
          note(
            `Checkout failed: ${hostOf(repo_url)} refused the key (is the project's deploy key added to the repository?)`,
          ),
        );
      }
      return r.code;
    }
    // A fork's pull request (branch `pull/N`, as CircleCI names it) lives in the base repository only
    // under refs/pull/N/head, which a clone does not fetch. No such ref: the checkout of the sha decides.
    const pull = /^pull\/(\d+)$/.exec(payload.checkout.branch ?? "");
    if (pull) {
      await git([
        "-C",
        dir,
        "fetch",
        "--quiet",
        "origin",
        `+refs/pull/${pull[1]}/head:refs/remotes/origin/pull/${pull[1]}`,
      ]);
    }
    r = await git(["-C", dir, "checkout", "--quiet", "--detach", sha]);
    if (r.code !== 0) return r.code;
    if (payload.checkout.branch) {
      await git(["-C", dir, "checkout", "--quiet", "-B", payload.checkout.branch, sha]);
    }
    await sandbox.putTree(dir, dest);
    log.write(note(`Checked out ${sha.slice(0, 12)}`));
    return 0;
  } finally {
    if (keyDir) await transport.exec(["rm", "-rf", "--", keyDir]);
    await transport.exec(["rm", "-rf", "--", dir]);
  }
}
