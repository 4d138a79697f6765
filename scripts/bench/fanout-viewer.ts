// A viewer process for the fanout benchmark: holds many SSE connections to
// GET /api/v1/jobs/:id/log/stream, checks every connection's line ids (no gap, no duplicate,
// resuming with Last-Event-ID if the server drops it) and records each line's end-to-end latency
// from the send time the builder simulator stamped on it. In idle mode it only holds connections.
// Config: a JSON file named by the one argument (ViewerConfig). Reports on stdout; "close" on stdin ends it.
import { readFileSync } from "node:fs";
import { type ConnectionReport, Histogram, now, report, stdinLines } from "./fanout-shared.ts";
import { openSse } from "./sse-socket.ts";

export interface ViewerConfig {
  server: string;
  token: string;
  mode: "load" | "idle";
  /** One entry per connection: the job it follows. */
  connections: string[];
  /** Wall-clock ms after which the process gives up on connections that have not ended. */
  deadline: number;
  /** Connection attempts in flight at once. */
  dial: number;
}

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8")) as ViewerConfig;
const abortAll = new AbortController();
const latency = new Histogram();
const errors: string[] = [];
let lines = 0;
let bytes = 0;
let firstAt = 0;
let lastAt = 0;
let connected = 0;
let failed = 0;

// Lines of one upload read together have the same latency: counted as one run, added once (the
// histogram's bucket is a logarithm and a map update, per line a good part of a viewer's CPU).
let runMs = Number.NaN;
let runLines = 0;
function addLatency(ms: number) {
  if (ms === runMs) runLines++;
  else {
    if (runLines) latency.add(runMs, runLines);
    runMs = ms;
    runLines = 1;
  }
}

const note = (err: unknown) => {
  if (errors.length < 20) errors.push(String((err as Error)?.message ?? err));
};

/** At most `n` connection attempts at once, so 10,000 viewers do not all dial in the same tick. */
function limiter(n: number) {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => queue.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}
const dialing = limiter(cfg.dial);

async function follow(job: string): Promise<ConnectionReport> {
  const r: ConnectionReport = {
    job,
    last: 0,
    received: 0,
    duplicated: 0,
    gaps: 0,
    ended: false,
    reconnects: 0,
  };
  let first = true;
  while (!r.ended && !abortAll.signal.aborted && now() < cfg.deadline) {
    const headers: Record<string, string> = {
      authorization: `Bearer ${cfg.token}`,
      accept: "text/event-stream",
    };
    if (r.last > 0) headers["last-event-id"] = String(r.last);
    let stream: Awaited<ReturnType<typeof openSse>> | undefined;
    const stop = () => stream?.close();
    try {
      stream = await dialing(() =>
        openSse(
          { server: cfg.server, path: `/api/v1/jobs/${job}/log/stream`, headers },
          {
            line(n, sentAt, t) {
              if (n <= r.last) r.duplicated++;
              else {
                if (n > r.last + 1) r.gaps += n - r.last - 1;
                r.last = n;
                r.received++;
              }
              lines++;
              if (!firstAt) firstAt = t;
              lastAt = t;
              if (sentAt > 0) addLatency(t - sentAt); // the warm-up line carries no time
            },
            end() {
              r.ended = true;
            },
            read(n) {
              bytes += n;
            },
          },
        ),
      );
      if (first) {
        connected++;
        first = false;
        maybeReady();
      }
      abortAll.signal.addEventListener("abort", stop, { once: true });
      await stream.closed;
      abortAll.signal.removeEventListener("abort", stop);
    } catch (err) {
      if (abortAll.signal.aborted) break;
      if (first) {
        failed++;
        note(err);
        maybeReady();
        break;
      }
      note(err);
    }
    // The server drops a viewer that falls behind; the client resumes from its last id.
    if (!r.ended && !abortAll.signal.aborted) {
      r.reconnects++;
      await Bun.sleep(50);
    }
  }
  return r;
}

let readySent = false;
function maybeReady() {
  if (!readySent && connected + failed === cfg.connections.length) {
    readySent = true;
    report({ type: "ready", connections: connected, failed });
  }
}

let finished = false;
async function finish(reports: Promise<ConnectionReport[]>) {
  if (finished) return;
  finished = true;
  const connections = await reports;
  addLatency(Number.NaN); // NaN equals nothing: the last run is added
  await report({
    type: "result",
    connections,
    latency: latency.toJSON(),
    lines,
    bytes,
    firstAt,
    lastAt,
    errors,
  });
  process.exit(0);
}

const all = Promise.all(cfg.connections.map(follow));
process.on("exit", (code) => {
  if (!finished)
    process.stderr.write(
      `viewer exiting (${code}) early: ${connected} connected, ${failed} failed of ${cfg.connections.length}; ${errors.join("; ")}\n`,
    );
});
(async () => {
  for await (const line of stdinLines()) {
    if (line === "close") {
      abortAll.abort();
      break;
    }
  }
  abortAll.abort();
})();
// Bounded: past the deadline every connection is closed and reported as it stands.
const deadline = setTimeout(() => abortAll.abort(), Math.max(0, cfg.deadline - now()));
await finish(all);
clearTimeout(deadline);
