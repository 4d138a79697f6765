// SSH into a build: an SSH server (ssh2) on the builder that puts a user into the container of a
// job it is running, as CircleCI's "re-run with SSH" does. The username is the job id
// (`ssh -p PORT <job id>@builder`); the user's public key must belong to someone the server says
// may write to the job's project. Each session opening and closing is reported (and audited).
// Access is asked again about all open connections each second, in one call: one whose user may no
// longer write to the project (membership removed, role lowered, user or key removed) is ended,
// saying why. It fails closed: a connection the server has not confirmed for longer than a bound
// (30 s unless told; the server unreachable, say) is ended too, saying so.
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import { type Connection, type PublicKeyAuthContext, Server, type ServerChannel, utils } from "ssh2";
import type { Interactive, InteractiveOptions, Sandbox } from "./driver/types.ts";

/** Why this server ended a session: access revoked, or not confirmed by the server within the bound. */
export type EndReason = "revoked" | "unconfirmed";

/** The bound on how long an open connection may go unconfirmed by the server (ms). */
export const SSH_CONFIRM_WITHIN_MS = 30_000;

export interface SshUser {
  id: string;
  login: string;
}

export interface SshServerDeps {
  /** OpenSSH private host key (made once per builder, kept in its identity file). */
  hostKey: string;
  /** Asks the server whether this key may enter this job; null when not. For a new connection. */
  authorize(jobId: string, fingerprint: string): Promise<SshUser | null>;
  /**
   * Asks the server again about every open connection at once: each one's user, or null, in order.
   * Throws when the server does not answer; `signal` gives up on a question left hanging.
   */
  recheck(asks: { jobId: string; fingerprint: string }[], signal: AbortSignal): Promise<(SshUser | null)[]>;
  /** The running (or held) sandbox of a job on this builder, and its working directory. */
  sandboxFor(jobId: string): { sandbox: Sandbox; workdir: string } | undefined;
  /** A session opened, or closed (with why, when this server ended it). */
  sessionEvent(jobId: string, user: SshUser, event: "opened" | "closed", reason?: EndReason): void;
  /** How often open connections are authorised again (ms); 1000 unless told. */
  recheckMs?: number;
  /** A connection the server has not confirmed for longer than this (ms) is ended; 30 000 unless told. */
  confirmWithinMs?: number;
}

/** `SHA256:…` as OpenSSH prints it, from the raw public key blob. */
export const fingerprintOf = (blob: Buffer): string =>
  `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;

/** An ed25519 public key as SSH writes it: its type name and 32 bytes, each with its length. */
const ED25519_BLOB_BYTES = 4 + "ssh-ed25519".length + 4 + 32;

/**
 * A new ed25519 host key in OpenSSH's format. ssh2's generator drops the leading zero bytes of a
 * public key that starts with one (mscdex/ssh2#1390, #1513): about one key in 256 then cannot be
 * read back, and a builder registered with it could not start its SSH server. Such a key is made
 * again.
 */
export function generateHostKey(): string {
  for (;;) {
    const key = utils.generateKeyPairSync("ed25519").private;
    const parsed = utils.parseKey(key);
    if (!(parsed instanceof Error) && parsed.getPublicSSH().length === ED25519_BLOB_BYTES) return key;
  }
}

export interface RunningSshServer {
  port: number;
  close(): Promise<void>;
}

/** A session's channel, what runs inside the container, and its one "closed" report. */
interface LiveSession {
  channel: ServerChannel;
  inside?: Interactive;
  closed(): void;
}

/** An authenticated connection, with what to ask the server again and how to end it. */
interface OpenConnection {
  jobId: string;
  fingerprint: string;
  user: SshUser;
  /** When the server last said (in a question asked then) that this user may still enter (ms). */
  confirmedAt: number;
  end(reason: EndReason): void;
}

const SAYS: Record<EndReason, string> = {
  revoked:
    "\r\ncairn: your access to this job was revoked (you may no longer write to its project); closing the session\r\n",
  unconfirmed:
    "\r\ncairn: the Cairn server could not confirm your access to this job (it did not answer); closing the session\r\n",
};

/**
 * Asks the server again about every open connection in one call; ends those it no longer allows.
 * An unanswered question leaves each connection as confirmed as it was: the timer ends those that
 * go unconfirmed past the bound, whether the question failed or still hangs.
 */
async function recheck(open: Set<OpenConnection>, deps: SshServerDeps, timeoutMs: number): Promise<void> {
  const conns = [...open];
  const askedAt = Date.now();
  let users: (SshUser | null)[];
  try {
    users = await deps.recheck(
      conns.map((c) => ({ jobId: c.jobId, fingerprint: c.fingerprint })),
      AbortSignal.timeout(timeoutMs),
    );
  } catch {
    return;
  }
  conns.forEach((conn, i) => {
    if (!open.has(conn)) return;
    if (users[i]?.id === conn.user.id) conn.confirmedAt = Math.max(conn.confirmedAt, askedAt);
    else conn.end("revoked");
  });
}

export async function startSshServer(
  deps: SshServerDeps,
  listen: { host: string; port: number },
): Promise<RunningSshServer> {
  const open = new Set<OpenConnection>();
  const hostKey = utils.parseKey(deps.hostKey);
  if (hostKey instanceof Error)
    throw new Error(
      `the SSH host key in the builder's identity cannot be read (${hostKey.message}): register the builder again with --ssh-listen to make a new one`,
    );
  const server = new Server({ hostKeys: [deps.hostKey] }, (client: Connection) => {
    let user: SshUser | null = null;
    let jobId = "";
    // Each live session's channel and what runs inside the container, so a revocation can end them.
    const live = new Set<LiveSession>();
    // Why this server ended the connection (revoked, or unconfirmed), once it has.
    let ended: EndReason | undefined;
    client.on("authentication", async (ctx) => {
      if (ctx.method !== "publickey") return ctx.reject(["publickey"]);
      const pk = ctx as PublicKeyAuthContext;
      const key = utils.parseKey(
        Buffer.concat([Buffer.from(`${pk.key.algo} `), Buffer.from(pk.key.data.toString("base64"))]),
      );
      if (key instanceof Error) return ctx.reject();
      // The client proves it holds the private key by signing; without a signature it only asks.
      if (pk.signature && pk.blob && !key.verify(pk.blob, pk.signature, pk.hashAlgo)) return ctx.reject();
      try {
        const fingerprint = fingerprintOf(pk.key.data);
        const askedAt = Date.now();
        const allowed = await deps.authorize(ctx.username, fingerprint);
        if (!allowed || !deps.sandboxFor(ctx.username)) return ctx.reject();
        user = allowed;
        jobId = ctx.username;
        // Only a signed attempt opens a connection; a query without a signature is not one.
        if (pk.signature) {
          const conn: OpenConnection = {
            jobId,
            fingerprint,
            user: allowed,
            confirmedAt: askedAt,
            end(reason) {
              ended = reason;
              open.delete(conn);
              // The message goes out before the exit status and the close (stderr is its own
              // stream, written later). The client then closes the connection itself, once it has
              // printed what its channels said: OpenSSH's client exits on a disconnect without
              // writing out channel data it has received, so ending the connection here lost the
              // message under load.
              if (live.size === 0) return client.end();
              for (const s of [...live]) {
                s.channel.stderr.write(SAYS[reason], () => {
                  s.channel.exit(255);
                  s.channel.end();
                  // Reported now, not when the command inside exits: a command without a terminal
                  // may outlive its channel, and the job's hold ends with its last session.
                  s.closed();
                });
                s.inside?.kill();
              }
              // A client that keeps the connection, or a channel it closed meanwhile that never says
              // the message: the connection ends regardless.
              setTimeout(() => {
                for (const s of [...live]) s.closed();
                client.end();
              }, 5000).unref();
            },
          };
          open.add(conn);
          client.once("close", () => open.delete(conn));
        }
        ctx.accept();
      } catch {
        ctx.reject();
      }
    });
    client.on("ready", () => {
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        let pty: InteractiveOptions["pty"];
        let running: Interactive | undefined;
        session.on("pty", (accept, _reject, info) => {
          pty = { rows: info.rows || 24, cols: info.cols || 80, term: info.term || "xterm" };
          accept?.();
        });
        session.on("window-change", (accept, _reject, info) => {
          running?.resize(info.rows, info.cols);
          accept?.();
        });
        const start = async (command: string | undefined, accept: () => ServerChannel) => {
          const target = deps.sandboxFor(jobId);
          const channel = accept();
          if (!target?.sandbox.attach || !user || ended) {
            channel.stderr.write(ended ? SAYS[ended] : "cairn: this job's container is gone\r\n");
            channel.exit(1);
            channel.end();
            return;
          }
          const who = user;
          const entry: LiveSession = {
            channel,
            closed: () => {
              if (live.delete(entry)) deps.sessionEvent(jobId, who, "closed", ended);
            },
          };
          live.add(entry);
          deps.sessionEvent(jobId, who, "opened");
          try {
            running = await target.sandbox.attach({ pty, command, workdir: target.workdir });
          } catch (err) {
            channel.stderr.write(`cairn: cannot enter the container: ${(err as Error).message}\r\n`);
            channel.exit(1);
            channel.end();
            entry.closed();
            return;
          }
          const inside = running;
          entry.inside = inside;
          // Revoked while the container was being entered: end what just started.
          if (ended) inside.kill();
          inside.onData((b) => channel.write(b));
          channel.on("data", (b: Buffer) => inside.write(b));
          channel.on("end", () => inside.end());
          let exited = false;
          channel.on("close", () => {
            // The client went (or closed the channel) while the command runs: end it inside the
            // container, and report the session closed now, as a revocation does; a command
            // without a terminal would otherwise outlive its channel and hold the job.
            if (!exited) inside.kill();
            entry.closed();
          });
          inside.onExit((code) => {
            exited = true;
            // A session this server ended has its channel ended there, after its message.
            if (!ended) {
              channel.exit(code);
              channel.end();
            }
            entry.closed();
          });
        };
        session.on("shell", (accept) => void start(undefined, accept));
        session.on("exec", (accept, _reject, info) => void start(info.command, accept));
      });
    });
    client.on("error", () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const confirmWithin = deps.confirmWithinMs ?? SSH_CONFIRM_WITHIN_MS;
  let rechecking = false;
  const timer = setInterval(() => {
    // Fail closed: past the bound without the server's word, a connection ends.
    const now = Date.now();
    for (const conn of [...open]) if (now - conn.confirmedAt > confirmWithin) conn.end("unconfirmed");
    if (rechecking || open.size === 0) return;
    rechecking = true;
    void recheck(open, deps, confirmWithin).finally(() => {
      rechecking = false;
    });
  }, deps.recheckMs ?? 1000);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        server.close(() => resolve());
      }),
  };
}
