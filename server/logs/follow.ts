// Following a job's log from line `after`: stored lines first, then live ones from the hub, with
// no gap and no duplicate, ending with the job's result. The one follower of both live transports:
// SSE (sse.ts) writes what it hands over into its stream; the WebSocket route reads `followLog`.
import type { LogLine } from "../../wasm/types.ts";
import type { Db } from "../db/client.ts";
import type { LogEvent, Viewer } from "./hub.ts";
import type { LogService } from "./service.ts";

const PAGE = 5000;
/** How often a follower waiting for a WebSocket to send a stored page looks again. */
const DRAIN_POLL_MS = 20;
/**
 * Live events held while a follower reads stored lines, at most, and their bytes (chunk JSON and SSE,
 * as the log service counted them). Past either the follower lets them go and reads those lines from
 * storage as well: held by count alone, a catch-up while a job printed empty lines held 256 uploads'
 * output, ~2 GB (docs/perf.md, memory).
 */
const HELD_LIMIT = 256;
export const HELD_BYTES = 1024 * 1024;

/**
 * Lets the event loop turn once. A client that reads as fast as it is written resolves `drained`
 * without one, so a catch-up of millions of stored lines ran on the thread for seconds with no
 * timer, upload or heartbeat served, and the heap watch (garbage.ts) held off while its garbage grew
 * (a 3.3 s stretch, RSS up 145 MB: docs/perf.md, memory). One turn per page costs a page nothing.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Where a follower hands the log: a transport's stream. */
export interface FollowTarget {
  /**
   * A batch of lines not handed over before, in order. A live chunk whose lines are all new comes
   * as the hub's own chunk, shared by every viewer of the job, with `sse` when the pipeline
   * rendered it: a transport can render it once for all of them. `batch.lines` is read only by a
   * transport that needs the lines: a live chunk parses them on first read (chunk-json.ts), which
   * given `sse` an SSE viewer never does — parsing every line of every upload was most of the
   * garbage of ingest (docs/perf.md, memory).
   */
  lines(batch: LineBatch, sse?: Uint8Array): void;
  /** The job's result, after its last line; the follower stops after it. */
  end(status: string): void;
  /** Resolves once the client has read what was handed over: stored pages go as fast as it reads. */
  drained(): Promise<void>;
  /** Whether the client has fallen too far behind the live lines: then it is dropped and resumes. */
  behind(): boolean;
  /** The follower stopped (the end, dropped, closed; `err` when reading the log failed). Called once. */
  stopped(err?: unknown): void;
}

/** Lines handed to a transport; a live chunk's are parsed when first read. */
export interface LineBatch {
  readonly lines: LogLine[];
}

export class LogFollower implements Viewer {
  /** Last line handed over. */
  private sent: number;
  /** Until stored lines are read, live events wait here. */
  private held: LogEvent[] | null = [];
  private heldBytes = 0;
  /** Live events past the held bounds were let go: storage is read to its end again before going live. */
  private letGo = false;
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly logs: LogService,
    private readonly jobId: string,
    after: number,
    private readonly target: FollowTarget,
  ) {
    this.sent = after;
    // Subscribe before reading storage so nothing published in between is missed.
    this.unsubscribe = logs.hub.subscribe(jobId, this);
  }

  /** Reads the stored lines, then hands over live ones. */
  start(): void {
    this.catchUp().catch((err) => this.stop(err));
  }

  private async catchUp(): Promise<void> {
    for (;;) {
      const stored = await this.logs.readLines(this.jobId, this.sent, PAGE);
      if (this.closed) return;
      if (stored.length) {
        this.sent = stored[stored.length - 1].n;
        this.target.lines({ lines: stored });
        // A long stored log streams as fast as the client reads it, not into memory.
        await this.target.drained();
        await nextTurn();
      }
      if (stored.length < PAGE) {
        if (!this.letGo) break;
        // Live events were let go: hold them again, from the one whose write waits for its commit
        // (as subscribing does), and read on; what was let go is committed by then, or is that one.
        this.letGo = false;
        const pending = this.logs.hub.pending(this.jobId);
        this.held = pending ? [pending] : [];
        this.heldBytes = 0;
      }
    }
    this.logs.hub.noteRead(this.jobId, this.sent);
    const [job] = await this.logs.progress([this.jobId]);
    if (this.closed) return;
    const held = this.held ?? [];
    this.held = null;
    this.heldBytes = 0;
    if (job?.over && this.sent >= job.lines && held.length === 0) {
      this.end(job.status);
      return;
    }
    for (const ev of held) this.deliver(ev);
  }

  /** Hands over the stored lines not yet sent a page at a time, as fast as the client reads, then the end. */
  private async finishFromStorage(status: string): Promise<void> {
    for await (const rest of this.logs.pages(this.jobId, this.sent)) {
      if (this.closed) return;
      this.sent = rest[rest.length - 1].n;
      this.target.lines({ lines: rest });
      await this.target.drained();
      await nextTurn();
    }
    this.end(status);
  }

  deliver(event: LogEvent): void {
    if (this.closed) return;
    if (this.held) {
      if (this.letGo) return;
      this.held.push(event);
      this.heldBytes += eventBytes(event);
      if (this.held.length > HELD_LIMIT || this.heldBytes > HELD_BYTES) {
        this.held = [];
        this.heldBytes = 0;
        this.letGo = true;
      }
      return;
    }
    if (event.kind === "end") {
      if (event.lines !== undefined && this.sent >= event.lines) {
        this.end(event.status);
        return;
      }
      // Read to the end of storage first, so the result always follows the last line.
      this.held = [];
      this.finishFromStorage(event.status).catch((err) => this.stop(err));
      return;
    }
    const { chunk } = event;
    if (chunk.first > this.sent) {
      this.sent = chunk.last;
      this.target.lines(chunk, event.sse);
    } else {
      const lines = chunk.lines.filter((l) => l.n > this.sent);
      if (lines.length === 0) return;
      this.sent = lines[lines.length - 1].n;
      this.target.lines({ lines });
    }
    // Fallen too far behind: dropped; what was handed over still goes out, then the client resumes.
    if (this.target.behind()) this.close();
  }

  private end(status: string): void {
    this.target.end(status);
    this.close();
  }

  /** Stops following (the client went away, fell behind, lost its access, or the log ended). */
  close(): void {
    this.stop();
  }

  private stop(err?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.held = null;
    this.unsubscribe();
    this.target.stopped(err);
  }
}

/** Bytes a live event keeps alive: as the log service counted them, else its SSE's, else its lines' text. */
function eventBytes(event: LogEvent): number {
  if (event.kind !== "chunk") return 0;
  if (event.bytes !== undefined) return event.bytes;
  if (event.sse) return event.sse.byteLength;
  let n = 0;
  for (const line of event.chunk.lines) n += line.text.length;
  return n;
}

/** Lines come in batches (a stored page, or one live chunk), so a stream writes once per batch. */
export type FollowEvent =
  | { kind: "lines"; lines: LogLine[] }
  | { kind: "end"; status: string }
  | { kind: "ping" };

/**
 * The follower read as a sequence (the WebSocket route): batches, a `ping` after `pingMs` without
 * one, and the end. The viewer is dropped when it falls behind: more than `queueLimit` batches
 * unread, or its socket holding more than `budgetBytes` unsent (`buffered`, the transport's count).
 * What is queued is let go and the sequence ends without a result: the client resumes from its last
 * line. Stored pages wait for the socket to send the last one first.
 * `_db` is unused (the log service says when a job is over); the route still passes it.
 */
export async function* followLog(
  _db: Db,
  logs: LogService,
  jobId: string,
  after: number,
  opts: {
    pingMs: number;
    signal: AbortSignal;
    queueLimit?: number;
    /** Bytes the client's socket holds unsent (WebSocket `bufferedAmount`). */
    buffered?: () => number;
    budgetBytes?: number;
  },
): AsyncGenerator<FollowEvent> {
  const limit = opts.queueLimit ?? 256;
  const buffered = opts.buffered ?? (() => 0);
  const budget = opts.budgetBytes ?? Number.POSITIVE_INFINITY;
  const queue: FollowEvent[] = [];
  let stopped = false;
  let overBudget = false;
  /** Set when reading the log failed: the sequence throws it after what was queued. */
  let failure: { err: unknown } | undefined;
  let wake: (() => void) | null = null;
  let readers: (() => void)[] = [];
  const notify = () => wake?.();
  const emptied = () => {
    const r = readers;
    readers = [];
    for (const f of r) f();
  };
  /** The socket has sent all but half its budget (polled: a WebSocket tells no one when it drains). */
  const socketDrained = async () => {
    while (!stopped && buffered() > budget / 2) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
  };
  const follower = new LogFollower(logs, jobId, after, {
    lines(batch) {
      queue.push({ kind: "lines", lines: batch.lines });
      notify();
    },
    end(status) {
      queue.push({ kind: "end", status });
      notify();
    },
    drained: async () => {
      if (queue.length > 0 && !stopped) await new Promise<void>((r) => readers.push(r));
      await socketDrained();
    },
    behind: () => {
      overBudget = queue.length > limit || buffered() > budget;
      return overBudget;
    },
    stopped(err) {
      stopped = true;
      // Dropped for falling behind: what is queued is let go too, the client reads it on resuming.
      if (overBudget) queue.length = 0;
      if (err !== undefined) failure = { err };
      emptied();
      notify();
    },
  });
  const abort = () => follower.close();
  opts.signal.addEventListener("abort", abort);
  if (opts.signal.aborted) follower.close();
  follower.start();
  try {
    for (;;) {
      const ev = queue.shift();
      if (ev) {
        yield ev;
        if (queue.length === 0) emptied();
        continue;
      }
      if (stopped) {
        const failed = failure as { err: unknown } | undefined;
        if (failed) throw failed.err;
        return;
      }
      const timedOut = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(true), opts.pingMs);
        wake = () => {
          clearTimeout(timer);
          resolve(false);
        };
      });
      wake = null;
      if (timedOut && queue.length === 0 && !stopped) yield { kind: "ping" };
    }
  } finally {
    opts.signal.removeEventListener("abort", abort);
    follower.close();
  }
}
