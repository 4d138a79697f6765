// A job's log as a Server-Sent Events body: stored lines from `after`, then live ones, then the job's
// result, with no gap and no duplicate. Built straight on a Web-standard ReadableStream: the hub
// delivers a live chunk by enqueueing bytes rendered once for all viewers of the job, so a viewer
// costs no promise, timer or copy per chunk, and an idle one holds little more than its stream.
// The stream's queue is the viewer's bounded queue: past `queueBytes` unread it is closed, so a
// stalled viewer never slows ingestion or others; its client resumes from its last event id.
import { eq } from "drizzle-orm";
import type { LogLine } from "../../wasm/types.ts";
import type { Db } from "../db/client.ts";
import { jobs } from "../db/schema.ts";
import { isTerminal } from "../services/scheduler.ts";
import type { StreamLease } from "../services/stream-guard.ts";
import type { LogEvent, Viewer } from "./hub.ts";
import type { LogService } from "./service.ts";

const encoder = new TextEncoder();
const RETRY = encoder.encode("retry: 1000\n\n");
const PING = encoder.encode(": ping\n\n");
const REVOKED = encoder.encode("event: revoked\ndata: {}\n\n");
const PAGE = 5000;
/** Live events held while a viewer reads stored lines; more and it resumes later instead. */
const HELD_LIMIT = 256;

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

class LogSse implements Viewer {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Last line id written. */
  private sent: number;
  /** Until stored lines are read, live events wait here. */
  private held: LogEvent[] | null = [];
  private closed = false;
  private wrote = false;
  private drained: (() => void) | null = null;
  private unsubscribe: () => void;
  private readonly pinger: Pinger;
  private readonly lease?: StreamLease;
  private readonly revoked = () => {
    this.write(REVOKED);
    this.close();
  };

  constructor(
    private readonly db: Db,
    private readonly logs: LogService,
    private readonly jobId: string,
    after: number,
    opts: LogSseOptions,
  ) {
    this.sent = after;
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.controller = c;
        },
        pull: () => {
          const d = this.drained;
          this.drained = null;
          d?.();
        },
        cancel: () => this.close(),
      },
      { highWaterMark: opts.queueBytes ?? 4 * 1024 * 1024, size: (chunk) => chunk?.byteLength ?? 0 },
    );
    // Subscribe before reading storage so nothing published in between is missed.
    this.unsubscribe = logs.hub.subscribe(jobId, this);
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
      this.write(RETRY);
      this.catchUp().catch((err) => this.fail(err));
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

  private async catchUp(): Promise<void> {
    for (;;) {
      const stored = await this.logs.readLines(this.jobId, this.sent, PAGE);
      if (this.closed) return;
      if (stored.length) {
        this.sent = stored[stored.length - 1].n;
        this.write(sseLines(stored));
        // A long stored log streams as fast as the client reads it, not into memory.
        while (!this.closed && (this.controller.desiredSize ?? 0) <= 0)
          await new Promise<void>((r) => {
            this.drained = r;
          });
      }
      if (stored.length < PAGE) break;
    }
    this.logs.hub.noteRead(this.jobId, this.sent);
    const job = await this.db.query.jobs.findFirst({
      where: eq(jobs.id, this.jobId),
      columns: { status: true, logLines: true },
    });
    if (this.closed) return;
    const held = this.held ?? [];
    this.held = null;
    if (job && isTerminal(job.status) && this.sent >= job.logLines && held.length === 0) {
      this.end(job.status);
      return;
    }
    for (const ev of held) this.deliver(ev);
  }

  deliver(event: LogEvent): void {
    if (this.closed) return;
    if (this.held) {
      if (this.held.length >= HELD_LIMIT) this.close();
      else this.held.push(event);
      return;
    }
    if (event.kind === "end") {
      if (event.lines !== undefined && this.sent >= event.lines) {
        this.end(event.status);
        return;
      }
      // Read to the end of storage first, so the result always follows the last line.
      this.held = [];
      this.logs
        .readLines(this.jobId, this.sent, Number.MAX_SAFE_INTEGER)
        .then((rest) => {
          if (rest.length) this.write(sseLines(rest));
          this.end(event.status);
        })
        .catch((err) => this.fail(err));
      return;
    }
    const { chunk } = event;
    // A chunk that is all new goes out as the bytes every viewer of the job shares: rendered by
    // the pipeline, or once here.
    if (chunk.first > this.sent) {
      this.sent = chunk.last;
      this.write(event.sse ?? sseLines(chunk.lines));
    } else {
      const lines = chunk.lines.filter((l) => l.n > this.sent);
      if (lines.length === 0) return;
      this.sent = lines[lines.length - 1].n;
      this.write(sseLines(lines));
    }
    // Fallen too far behind: dropped; what is queued still goes out, then the client resumes.
    if ((this.controller.desiredSize ?? 0) < 0) this.close();
  }

  private end(status: string): void {
    this.write(sseEnd(status));
    this.close();
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    this.release();
    this.controller.error(err);
  }

  private release(): void {
    this.closed = true;
    this.held = null;
    this.unsubscribe();
    this.pinger.delete(this);
    this.lease?.signal.removeEventListener("abort", this.revoked);
    this.lease?.close();
    this.drained?.();
    this.drained = null;
  }

  /** Ends the stream after what is queued (the client went away, fell behind, or the log ended). */
  close(): void {
    if (this.closed) return;
    this.release();
    try {
      this.controller.close();
    } catch {
      // already closed by the client
    }
  }
}

/** The SSE body for a job's log from line `after`. */
export function logSse(
  db: Db,
  logs: LogService,
  jobId: string,
  after: number,
  opts: LogSseOptions,
): ReadableStream<Uint8Array> {
  return new LogSse(db, logs, jobId, after, opts).body;
}
