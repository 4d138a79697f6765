// The `ssh` host transport: one ssh2 connection to a fleet host's sshd, one exec channel per
// command, many at once. The host key is pinned; env travels on stdin (see shell.ts), because
// argv shows in `ps` and sshd refuses `env` requests unless AcceptEnv allows them.

import { constants } from "node:os";
import { Client, type ClientChannel } from "ssh2";
import type { ExecOptions, ExecResult, HostTransport } from "../driver/types.ts";
import { fingerprintOf, HostKeyMismatchError, hostKeyAlgorithms, parseHostKeyPin } from "./host-key.ts";
import { CappedOutput } from "./output.ts";
import { Semaphore } from "./semaphore.ts";
import { concatBytes, envBlock, shellCommand, toBytes, withEnvWrapper } from "./shell.ts";

export interface SshTransportOptions {
  host: string;
  port?: number;
  username: string;
  /** OpenSSH or PEM private key text. */
  privateKey: string | Buffer;
  passphrase?: string;
  /** Pinned host key: OpenSSH public key line, known_hosts line, or `SHA256:` fingerprint. */
  hostKey: string;
  /** Concurrent exec channels; keep below the host's sshd MaxSessions (default 10). */
  maxChannels?: number;
  readyTimeoutMs?: number;
}

const defaults = { port: 22, maxChannels: 8, readyTimeoutMs: 20_000 } satisfies Partial<SshTransportOptions>;

/** How long an aborted command gets to report its exit after SIGKILL before the channel is shut. */
const ABORT_GRACE_MS = 2_000;

export class TransportClosedError extends Error {
  readonly code = "transport_closed";
  constructor(message: string) {
    super(message);
    this.name = "TransportClosedError";
  }
}

export async function createSshTransport(options: SshTransportOptions): Promise<HostTransport> {
  const opts = { ...defaults, ...options };
  const where = `ssh://${opts.username}@${opts.host}:${opts.port}`;
  const pin = parseHostKeyPin(opts.hostKey);
  const conn = new Client();
  let seenFingerprint: string | undefined;

  await new Promise<void>((resolve, reject) => {
    conn.once("ready", () => resolve());
    conn.once("error", (err) => {
      if (seenFingerprint && seenFingerprint !== pin.fingerprint) {
        reject(new HostKeyMismatchError(where, pin.fingerprint, seenFingerprint));
      } else {
        reject(new Error(`cannot connect to ${where}: ${err.message}`));
      }
    });
    const serverHostKey = hostKeyAlgorithms(pin);
    conn.connect({
      host: opts.host,
      port: opts.port,
      username: opts.username,
      privateKey: opts.privateKey,
      passphrase: opts.passphrase,
      readyTimeout: opts.readyTimeoutMs,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      // biome-ignore lint/suspicious/noExplicitAny: ssh2's algorithm list type is a closed union
      algorithms: serverHostKey ? { serverHostKey: serverHostKey as any } : undefined,
      hostVerifier: (key: Buffer) => {
        seenFingerprint = fingerprintOf(key);
        return seenFingerprint === pin.fingerprint;
      },
    });
  });

  let closed: string | undefined;
  conn.on("error", (err) => {
    closed ??= `ssh connection to ${where} failed: ${err.message}`;
  });
  conn.on("close", () => {
    closed ??= `ssh connection to ${where} closed`;
  });
  const channels = new Semaphore(opts.maxChannels);

  return {
    kind: "ssh",
    async exec(argv, execOpts = {}) {
      const command = shellCommand(execOpts.env ? withEnvWrapper(argv) : argv);
      const input = execOpts.env
        ? concatBytes([envBlock(execOpts.env), toBytes(execOpts.stdin)])
        : toBytes(execOpts.stdin);
      if (execOpts.signal?.aborted) return { code: 137, stdout: "", stderr: "aborted before start\n" };
      const release = await channels.acquire();
      try {
        if (closed) throw new TransportClosedError(closed);
        return await runChannel(conn, command, input, execOpts, () => closed);
      } finally {
        release();
      }
    },
    async close() {
      closed ??= `ssh transport to ${where} was closed`;
      await new Promise<void>((resolve) => {
        conn.once("close", () => resolve());
        conn.end();
        setTimeout(resolve, 2_000).unref?.();
      });
    },
  };
}

function runChannel(
  conn: Client,
  command: string,
  input: Uint8Array,
  opts: ExecOptions,
  closedReason: () => string | undefined,
): Promise<ExecResult> {
  const stdout = new CappedOutput();
  const stderr = new CappedOutput();
  const abortable = opts.signal !== undefined;
  // An abortable command first reports its process group (sshd setsid()s each session) on
  // stderr, so an abort can kill the whole group; see killGroup for why not a signal request.
  const fullCommand = abortable ? `echo "${PGID_TAG}$$" >&2; exec ${command}` : command;
  return new Promise<ExecResult>((resolve, reject) => {
    conn.exec(fullCommand, (err: Error | undefined, stream: ClientChannel) => {
      if (err) {
        reject(new TransportClosedError(`ssh exec failed: ${err.message}`));
        return;
      }
      let exitCode: number | undefined;
      let aborted = false;
      let pgid: number | undefined;
      let header = abortable ? "" : undefined;
      const onAbort = () => {
        aborted = true;
        if (pgid !== undefined) killGroup(conn, pgid);
        // The channel closes once the group is gone; this is the fallback if the kill is lost.
        setTimeout(() => stream.close(), ABORT_GRACE_MS).unref?.();
      };
      const onStderr = (b: Buffer) => {
        stderr.add(b);
        opts.onStderr?.(b);
      };
      stream.on("data", (b: Buffer) => {
        stdout.add(b);
        opts.onStdout?.(b);
      });
      stream.stderr.on("data", (b: Buffer) => {
        if (header === undefined) return onStderr(b);
        header += b.toString("latin1");
        const nl = header.indexOf("\n");
        if (nl < 0) return;
        const line = header.slice(0, nl);
        const rest = Buffer.from(header.slice(nl + 1), "latin1");
        header = undefined;
        if (line.startsWith(PGID_TAG)) {
          pgid = Number(line.slice(PGID_TAG.length));
          if (aborted) killGroup(conn, pgid);
        }
        if (rest.length) onStderr(rest);
      });
      stream.on("exit", (code: number | null, signalName?: string) => {
        if (typeof code === "number") exitCode = code;
        else if (signalName) exitCode = 128 + signalNumber(signalName);
      });
      stream.on("close", () => {
        opts.signal?.removeEventListener("abort", onAbort);
        if (exitCode === undefined && aborted) exitCode = 137;
        if (exitCode === undefined) {
          reject(
            new TransportClosedError(
              `${closedReason() ?? "ssh channel closed"} before the command reported its exit status`,
            ),
          );
          return;
        }
        resolve({ code: exitCode, stdout: stdout.text(), stderr: stderr.text() });
      });
      stream.on("error", () => {}); // surfaced as a close without exit status
      stream.end(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
      if (opts.signal?.aborted) onAbort();
      else opts.signal?.addEventListener("abort", onAbort, { once: true });
    });
  });
}

const PGID_TAG = "cairn-pgid ";

/**
 * Kills a remote process group from a second channel. SSH "signal" requests would be simpler,
 * but OpenSSH refuses them for root sessions ("session signalling requires privilege
 * separation"), and the LXC host is driven as root.
 */
function killGroup(conn: Client, pgid: number): void {
  if (!Number.isInteger(pgid) || pgid <= 1) return;
  conn.exec(`kill -KILL -- -${pgid}`, (err: Error | undefined, stream: ClientChannel) => {
    if (err) return;
    stream.on("error", () => {});
    stream.resume();
    stream.stderr.resume();
    stream.end();
  });
}

/** ssh2 reports `SIGKILL` or `KILL` depending on version; both mean 9. */
function signalNumber(name: string): number {
  const full = (name.startsWith("SIG") ? name : `SIG${name}`) as NodeJS.Signals;
  return constants.signals[full] ?? 0;
}
