// A job's log as a Server-Sent Events body: stored lines from `after`, then live ones, then the job's
// result, with no gap and no duplicate. Built straight on a Web-standard ReadableStream: the hub
// delivers a live chunk by enqueueing bytes rendered once for all viewers of the job, so a viewer
// costs no promise, timer or copy per chunk, and an idle one holds little more than its stream.
// The stream's queue is the viewer's bounded queue: past `queueBytes` unread it is closed, so a
// stalled viewer never slows ingestion or others; its client resumes from its last event id.
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

export interface LogSseOptions {
  /** A comment is written to a stream that wrote nothing for this long (keeps proxies from closing it). */
  pingMs: number;
  /** Unread bytes a viewer may fall behind before it is dropped. */
  queueBytes?: number;
  /** The viewer's hold on its access (services/stream-guard.ts): the stream ends when it is lost. */
  lease?: StreamLease;
}

/** One viewer's SSE stream: the follower (follow.ts) hands it lines, which it writes as events. */
class LogSse implements FollowTarget {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private readonly follower: LogFollower;
  private closed = false;
  private wrote = false;
  private waiting: (() => void) | null = null;
  private readonly pinger: Pinger;
  private readonly lease?: StreamLease;
  private readonly revoked = () => {
    this.write(REVOKED);
    this.follower.close();
  };

  constructor(logs: LogService, jobId: string, after: number, opts: LogSseOptions) {
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.controller = c;
        },
        pull: () => {
          const d = this.waiting;
          this.waiting = null;
          d?.();
        },
        cancel: () => this.follower.close(),
      },
      { highWaterMark: opts.queueBytes ?? 4 * 1024 * 1024, size: (chunk) => chunk?.byteLength ?? 0 },
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

  private write(bytes: Uint8Array): void {
    if (this.closed) return;
    this.wrote = true;
    this.controller.enqueue(bytes);
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
    while (!this.closed && (this.controller.desiredSize ?? 0) <= 0)
      await new Promise<void>((r) => {
        this.waiting = r;
      });
  }

  behind(): boolean {
    return (this.controller.desiredSize ?? 0) < 0;
  }

  /** Ends the stream after what is queued (the client went away, fell behind, or the log ended), or with `err`. */
  stopped(err?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.pinger.delete(this);
    this.lease?.signal.removeEventListener("abort", this.revoked);
    this.lease?.close();
    this.waiting?.();
    this.waiting = null;
    if (err !== undefined) {
      this.controller.error(err);
      return;
    }
    try {
      this.controller.close();
    } catch {
      // already closed by the client
    }
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
