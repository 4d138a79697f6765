// The `ssh` host transport: an ssh2 connection to a fleet host's sshd, one exec channel per
// command, many at once. The host key is pinned; env travels on stdin (see shell.ts), because
// argv shows in `ps` and sshd refuses `env` requests unless AcceptEnv allows them.
//
// sshd caps channels per connection (MaxSessions, 10 by default), and long steps hold theirs
// for minutes, so past `maxChannels` busy channels the transport opens one more connection
// rather than queue: a queued abort or destroy behind long steps would never run. Extra
// connections close when idle; a dropped connection is replaced on the next exec.

import { constants } from "node:os";
import type { Client, ClientChannel } from "ssh2";
import type { ExecOptions, ExecResult, HostTransport, Interactive } from "../driver/types.ts";
import { parseHostKeyPin } from "./host-key.ts";
import { CappedOutput } from "./output.ts";
import { concatBytes, envBlock, shellCommand, toBytes, withEnvWrapper } from "./shell.ts";
import { connectSsh, type SshConnectOptions } from "./ssh-connect.ts";

export interface SshTransportOptions extends SshConnectOptions {
  /** Busy channels per connection before another connection is opened; below sshd's MaxSessions. */
  maxChannels?: number;
}

/** How long an aborted command gets to report its exit after SIGKILL before the channel is shut. */
const ABORT_GRACE_MS = 2_000;
/** An extra connection with no channels for this long is closed. */
const IDLE_CLOSE_MS = 15_000;

export class TransportClosedError extends Error {
  readonly code = "transport_closed";
  constructor(message: string) {
    super(message);
    this.name = "TransportClosedError";
  }
}

/** sshd refused a new channel (MaxSessions reached on this connection). */
class ChannelRefusedError extends TransportClosedError {}

interface Link {
  conn: Client;
  active: number;
  dead?: string;
  idle?: ReturnType<typeof setTimeout>;
  /** Channels sshd actually allows on this connection, once it has refused one. */
  cap?: number;
}

export async function createSshTransport(options: SshTransportOptions): Promise<HostTransport> {
  const maxChannels = options.maxChannels ?? 8;
  if (!(maxChannels >= 1)) throw new Error(`maxChannels must be at least 1, got ${maxChannels}`);
  const pin = parseHostKeyPin(options.hostKey);
  const where = `ssh://${options.username}@${options.host}:${options.port ?? 22}`;
  const links: Link[] = [];
  let opening: Promise<void> | undefined;
  let closed: string | undefined;

  async function open(): Promise<void> {
    const link: Link = { conn: await connectSsh(options, pin), active: 0 };
    const drop = (reason: string) => {
      link.dead ??= reason;
      const at = links.indexOf(link);
      if (at >= 0) links.splice(at, 1);
    };
    link.conn.on("error", (err) => drop(`ssh connection to ${where} failed: ${err.message}`));
    link.conn.on("close", () => drop(`ssh connection to ${where} closed`));
    links.push(link);
  }

  async function acquire(): Promise<Link> {
    for (;;) {
      if (closed) throw new TransportClosedError(closed);
      const link = links.find((l) => !l.dead && l.active < (l.cap ?? maxChannels));
      if (link) {
        link.active++;
        clearTimeout(link.idle);
        return link;
      }
      opening ??= open().finally(() => {
        opening = undefined;
      });
      await opening;
    }
  }

  function release(link: Link): void {
    link.active--;
    if (link.active > 0 || link.dead) return;
    link.idle = setTimeout(() => {
      // Keep one connection warm; close the extras.
      if (link.active === 0 && links.filter((l) => !l.dead).length > 1) link.conn.end();
    }, IDLE_CLOSE_MS);
    link.idle.unref?.();
  }

  await open(); // fail fast: unreachable host, refused key, host key mismatch

  return {
    kind: "ssh",
    async exec(argv, execOpts = {}) {
      const command = shellCommand(execOpts.env ? withEnvWrapper(argv) : argv);
      const input = execOpts.env
        ? concatBytes([envBlock(execOpts.env), toBytes(execOpts.stdin)])
        : toBytes(execOpts.stdin);
      if (execOpts.signal?.aborted) return { code: 137, stdout: "", stderr: "aborted before start\n" };
      for (;;) {
        const link = await acquire();
        try {
          return await runChannel(link.conn, command, input, execOpts, () => link.dead);
        } catch (err) {
          // sshd's MaxSessions is below maxChannels: learn this connection's real cap, retry.
          if (!(err instanceof ChannelRefusedError) || link.active <= 1) throw err;
          link.cap = link.active - 1;
        } finally {
          release(link);
        }
      }
    },
    async interactive(argv, iopts = {}) {
      const link = await acquire();
      return new Promise<Interactive>((resolve, reject) => {
        const pty = iopts.pty ? { rows: iopts.pty.rows, cols: iopts.pty.cols, term: iopts.pty.term } : false;
        link.conn.exec(shellCommand(argv), { pty }, (err: Error | undefined, stream: ClientChannel) => {
          if (err) {
            release(link);
            reject(new TransportClosedError(`ssh exec failed: ${err.message}`));
            return;
          }
          let code = 255;
          stream.on("exit", (c: number | null, signalName?: string) => {
            code = typeof c === "number" ? c : signalName ? 128 + signalNumber(signalName) : 255;
          });
          stream.on("close", () => release(link));
          stream.on("error", () => {});
          resolve({
            write: (b) => void stream.write(b),
            end: () => stream.end(),
            resize: (rows, cols) => void stream.setWindow(rows, cols, 0, 0),
            onData(cb) {
              stream.on("data", cb);
              stream.stderr.on("data", cb);
            },
            onExit: (cb) => void stream.on("close", () => cb(code)),
            kill: () => stream.close(),
          });
        });
      });
    },
    async close() {
      closed ??= `ssh transport to ${where} was closed`;
      await Promise.all(
        links.map(
          (l) =>
            new Promise<void>((resolve) => {
              clearTimeout(l.idle);
              l.conn.once("close", () => resolve());
              l.conn.end();
              setTimeout(resolve, 2_000).unref?.();
            }),
        ),
      );
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
        reject(
          /open failed|Channel open failure/i.test(err.message)
            ? new ChannelRefusedError(`ssh exec failed: ${err.message}`)
            : new TransportClosedError(`ssh exec failed: ${err.message}`),
        );
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
        // A login script (~/.bashrc) may write to stderr before the tag: pass such lines on.
        while (header !== undefined) {
          const nl = header.indexOf("\n");
          if (nl < 0) break;
          const line = header.slice(0, nl);
          header = header.slice(nl + 1);
          if (!line.startsWith(PGID_TAG)) {
            onStderr(Buffer.from(`${line}\n`, "latin1"));
            continue;
          }
          pgid = Number(line.slice(PGID_TAG.length));
          if (aborted) killGroup(conn, pgid);
          const rest = Buffer.from(header, "latin1");
          header = undefined;
          if (rest.length) onStderr(rest);
        }
        if (header !== undefined && header.length > 65_536) {
          onStderr(Buffer.from(header, "latin1"));
          header = undefined; // no tag after this much: give up on group kill, keep the output
        }
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
