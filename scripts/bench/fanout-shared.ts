// Pieces the fanout benchmark's processes share: the latency histogram, /proc readers, and the
// JSON-lines messages children print on stdout for the orchestrator.
import { readFileSync } from "node:fs";

/** Wall-clock milliseconds, comparable across processes on one machine. */
export const now = () => performance.timeOrigin + performance.now();

/** Log-scale latency histogram: 1% wide buckets from 0.01 ms, small enough to ship as JSON. */
export class Histogram {
  private static readonly BASE = Math.log(1.01);
  counts = new Map<number, number>();
  total = 0;

  private static bucket(ms: number): number {
    return Math.max(0, Math.floor(Math.log(Math.max(ms, 0) * 100 + 1) / Histogram.BASE));
  }

  private static upper(bucket: number): number {
    return (Math.exp((bucket + 1) * Histogram.BASE) - 1) / 100;
  }

  add(ms: number, n = 1): void {
    const b = Histogram.bucket(ms);
    this.counts.set(b, (this.counts.get(b) ?? 0) + n);
    this.total += n;
  }

  merge(sparse: Record<string, number>): void {
    for (const [b, n] of Object.entries(sparse)) {
      this.counts.set(Number(b), (this.counts.get(Number(b)) ?? 0) + n);
      this.total += n;
    }
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  /** The q-quantile (0..1) in ms, as the upper edge of its bucket; NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.ceil(q * this.total);
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b)!;
      if (seen >= rank) return Histogram.upper(b);
    }
    return Number.NaN;
  }
}

/** Resident set size of a process in bytes (VmRSS), 0 if it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const CLK_TCK = 100; // USER_HZ: 100 on every Linux architecture Bun runs on

/** CPU seconds (user + system) a process has used, 0 if it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may hold spaces, start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14, 15)
  } catch {
    return 0;
  }
}

/** What a viewer process reports for each SSE connection it held. */
export interface ConnectionReport {
  job: string;
  /** Highest line number received. */
  last: number;
  received: number;
  duplicated: number;
  /** Line numbers skipped over (a gap in ids). */
  gaps: number;
  ended: boolean;
  reconnects: number;
}

export type ViewerMessage =
  | { type: "ready"; connections: number; failed: number }
  | {
      type: "result";
      connections: ConnectionReport[];
      latency: Record<string, number>;
      lines: number;
      bytes: number;
      /** Wall-clock ms of the first and last line received. */
      firstAt: number;
      lastAt: number;
      errors: string[];
    };

export interface JobTotals {
  bytes: number;
  lines: number;
}

export type BuilderMessage =
  | { type: "started" }
  | {
      type: "sent";
      /** Per job id: bytes and lines acknowledged by the server. */
      jobs: Record<string, JobTotals>;
      uploads: number;
      retries: number;
      /** Uploads the server took only in part (its ingest budget reached); the rest was sent next. */
      shortAcks: number;
      /** Time the first upload went out and the last one was acknowledged. */
      firstSend: number;
      lastAck: number;
      /** Upload round trips (send → persisted ack), ms. */
      ackLatency: Record<string, number>;
      errors: string[];
    }
  | { type: "finished"; errors: string[] };

/**
 * Prints a message for the orchestrator (one JSON line on stdout); resolves once it is written. A
 * process that exits right after a message must wait for it: stdout is a pipe, and a viewer's result
 * (one entry per connection, ~200 KB for 2,000) exiting unwritten reached the parent cut short.
 */
export function report(msg: ViewerMessage | BuilderMessage): Promise<void> {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(msg)}\n`, () => resolve()));
}

/** Resolves with each line the parent writes on stdin. */
export async function* stdinLines(): AsyncGenerator<string> {
  let buf = "";
  for await (const piece of process.stdin as AsyncIterable<Buffer>) {
    buf += piece.toString("utf8");
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
}
