// A job's log as a Server-Sent Events body: stored lines from `after`, then live ones, then the job's
// result, with no gap and no duplicate. Built straight on a Web-standard ReadableStream: the hub
// delivers a live chunk as bytes rendered once for all viewers of the job, so a viewer costs no
// promise, timer or copy per chunk, and an idle one holds little more than its stream.
// Each viewer has a byte budget of unsent data (VIEWER_BUDGET_BYTES). The bytes wait in the viewer's
// own counted queue and go to the stream only when it pulls (highWaterMark 0: when its reader asks;
// Bun's response asks while the socket takes more, so past the kernel's socket buffer they wait
// here). A viewer past its budget is dropped and its unsent bytes let go at once (a closed stream
// would keep its queue until a stalled client read it); its client reconnects with Last-Event-ID
// and reads the rest from storage, so no line is lost, only delayed.
import type { LogLine } from "../../wasm/types.ts";
import type { Db } from "../db/client.ts";
import type { StreamLease } from "../services/stream-guard.ts";
import { type FollowTarget, type LineBatch, LogFollower } from "./follow.ts";
import type { LogService } from "./service.ts";

const encoder = new TextEncoder();
const RETRY = encoder.encode("retry: 1000\n\n");
const PING = encoder.encode(": ping\n\n");
const REVOKED = encoder.encode("event: revoked\ndata: {}\n\n");

/** Rendered batches, keyed by the batch: a live chunk's array is shared by all viewers of its job. */
const rendered = new WeakMap<LogLine[], Uint8Array>();

/** A batch of lines as SSE `line` events in one buffer, rendered once per batch. */
export function sseLines(lines: LogLine[]): Uint8Array {
  let bytes = rendered.get(lines);
  if (!bytes) {
    let out = "";
    for (const l of lines) {
      const data = /[\r\n]/.test(l.text) ? l.text.split(/\r\n|\r|\n/).join("\ndata: ") : l.text;
      out += `event: line\ndata: ${data}\nid: ${l.n}\n\n`;
    }
    bytes = encoder.encode(out);
    rendered.set(lines, bytes);
  }
  return bytes;
}

const sseEnd = (status: string) => encoder.encode(`event: end\ndata: ${JSON.stringify({ status })}\n\n`);

/** One timer for every open stream: a stream that wrote nothing for a whole period gets a comment. */
class Pinger {
  private readonly streams = new Set<LogSse>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly ms: number) {}

  add(s: LogSse): void {
    this.streams.add(s);
    this.timer ??= setInterval(() => {
      for (const x of this.streams) x.ping();
    }, this.ms);
  }

  delete(s: LogSse): void {
    this.streams.delete(s);
    if (this.streams.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

const pingers = new Map<number, Pinger>();

/**
 * Unsent bytes one viewer may hold before it is dropped (and resumes from storage). 256 KiB is
 * seconds of a busy job's output (a job printing 100 KB/s), so a viewer that keeps up never meets
 * it, and 2,000 viewers that all stall hold at most 512 MB, less as live chunks are shared.
 */
export const VIEWER_BUDGET_BYTES = 256 * 1024;

/** Unsent bytes held by every SSE viewer of this process. */
let queuedTotal = 0;

/** Unsent bytes held by every SSE viewer of this process (each holds at most its budget and one batch). */
export function sseQueuedBytes(): number {
  return queuedTotal;
}

export interface LogSseOptions {
  /** A comment is written to a stream that wrote nothing for this long (keeps proxies from closing it). */
  pingMs: number;
  /** Unsent bytes this viewer may hold before it is dropped (VIEWER_BUDGET_BYTES). */
  budgetBytes?: number;
  /** The viewer's hold on its access (services/stream-guard.ts): the stream ends when it is lost. */
  lease?: StreamLease;
}

/** One viewer's SSE stream: the follower (follow.ts) hands it lines, which it writes as events. */
class LogSse implements FollowTarget {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private readonly follower: LogFollower;
  private readonly budget: number;
  /** Bytes written but not yet taken by the stream, oldest first, and their size. */
  private queue: Uint8Array[] = [];
  private queued = 0;
  /** The stream's reader asked and nothing was queued: the next write goes to it at once. */
  private wanted = false;
  /** No more writes; the stream closes once the queue is taken. */
  private closed = false;
  /** The stream is closed (or errored): nothing more reaches it. */
  private done = false;
  private wrote = false;
  private waiting: (() => void) | null = null;
  private readonly pinger: Pinger;
  private readonly lease?: StreamLease;
  private readonly revoked = () => {
    // Lines not sent yet are not sent after the access is gone.
    this.drop();
    this.write(REVOKED);
    this.follower.close();
  };

  constructor(logs: LogService, jobId: string, after: number, opts: LogSseOptions) {
    this.budget = opts.budgetBytes ?? VIEWER_BUDGET_BYTES;
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.controller = c;
        },
        pull: () => this.pull(),
        cancel: () => {
          this.drop();
          this.follower.close();
        },
      },
      { highWaterMark: 0 },
    );
    this.follower = new LogFollower(logs, jobId, after, this);
    let pinger = pingers.get(opts.pingMs);
    if (!pinger) {
      pinger = new Pinger(opts.pingMs);
      pingers.set(opts.pingMs, pinger);
    }
    this.pinger = pinger;
    pinger.add(this);
    this.lease = opts.lease;
    this.lease?.signal.addEventListener("abort", this.revoked);
    if (this.lease?.signal.aborted) queueMicrotask(this.revoked);
    // The first bytes flush the headers, so the client knows it is connected before any line. They
    // wait one macrotask, until the runtime reads the body: bytes queued before the response is
    // handed over cost Bun ~100 KB per connection for as long as it lives (docs/perf.md).
    setTimeout(() => {
      if (this.closed) return;
      this.write(RETRY);
      this.follower.start();
    }, 0);
  }

  /** Unsent bytes this viewer holds (never more than its budget plus one batch). */
  get queuedBytes(): number {
    return this.queued;
  }

  private write(bytes: Uint8Array): void {
    if (this.closed) return;
    this.wrote = true;
    if (this.wanted) {
      this.wanted = false;
      this.controller.enqueue(bytes);
      return;
    }
    this.queue.push(bytes);
    this.queued += bytes.byteLength;
    queuedTotal += bytes.byteLength;
  }

  /** The stream's reader asks for more: it gets everything queued, or the next write. */
  private pull(): void {
    if (this.done) return;
    if (this.queue.length === 0) {
      if (this.closed) this.finish();
      else this.wanted = true;
      return;
    }
    const q = this.queue;
    this.queue = [];
    queuedTotal -= this.queued;
    this.queued = 0;
    for (const b of q) this.controller.enqueue(b);
    if (this.closed) this.finish();
    const d = this.waiting;
    this.waiting = null;
    d?.();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    try {
      this.controller.close();
    } catch {
      // already closed by the client
    }
  }

  /** Lets go of what is queued: the client will not read it (it went away, or resumes from storage). */
  private drop(): void {
    this.queue = [];
    queuedTotal -= this.queued;
    this.queued = 0;
  }

  ping(): void {
    if (!this.wrote) this.write(PING);
    this.wrote = false;
  }

  lines(batch: LineBatch, sse?: Uint8Array): void {
    this.write(sse ?? sseLines(batch.lines));
  }

  end(status: string): void {
    this.write(sseEnd(status));
  }

  async drained(): Promise<void> {
    while (!this.closed && this.queued > 0)
      await new Promise<void>((r) => {
        this.waiting = r;
      });
  }

  behind(): boolean {
    return this.queued > this.budget;
  }

  /**
   * No more writes (the end, the client went away, fell behind, lost its access), or `err`. A viewer
   * past its budget loses what is queued: it has the lines before, and reads the rest on resuming.
   */
  stopped(err?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.pinger.delete(this);
    this.lease?.signal.removeEventListener("abort", this.revoked);
    this.lease?.close();
    this.waiting?.();
    this.waiting = null;
    if (err !== undefined) {
      this.drop();
      this.done = true;
      this.controller.error(err);
      return;
    }
    if (this.behind()) this.drop();
    // Closes now if nothing is queued, else once the reader has taken it (pull).
    if (this.queue.length === 0) this.finish();
  }
}

/** The SSE body for a job's log from line `after`. `_db` is unused (the log service says when a job is over); callers still pass it. */
export function logSse(
  _db: Db,
  logs: LogService,
  jobId: string,
  after: number,
  opts: LogSseOptions,
): ReadableStream<Uint8Array> {
  return new LogSse(logs, jobId, after, opts).body;
}
