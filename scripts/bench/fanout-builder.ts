// A builder simulator for the fanout benchmark: uploads its share of the jobs' logs at a set rate
// through the real ingest API (offset-addressed PATCH), heartbeats the leases, then finishes the
// jobs. Every line starts with its send time, so viewers can measure builder send → viewer receive.
// Config: a JSON file named by the one argument (see BuilderConfig). Reports on stdout (fanout-shared.ts).
import { readFileSync } from "node:fs";
import { ServerClient } from "../../builder/client.ts";
import { Histogram, type JobTotals, now, report, stdinLines } from "./fanout-shared.ts";

export interface BuilderConfig {
  server: string;
  token: string;
  jobs: string[];
  /** Jobs this process only keeps leased (the idle viewers' job). */
  heartbeatOnly: string[];
  /** This process's share of the aggregate rate, bytes per second. */
  bytesPerSecond: number;
  /** How long to send, from the wall-clock ms the orchestrator writes on stdin ("go <ms>"). */
  seconds: number;
  /** Each job uploads once per tick (the real builder flushes every 100 ms). */
  tickMs: number;
  lineBytes: number;
}

interface JobState {
  id: string;
  acked: number;
  lines: number;
  /** Bytes this job should have sent by now, minus what it did. */
  sentBytes: number;
  nextAt: number;
  inflight: boolean;
  /**
   * What the server did not take of the last body (a short acknowledgement: its ingest budget was
   * reached), sent before any new line, as the real builder does; and that body's line count.
   */
  rest: Uint8Array | null;
  restLines: number;
}

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8")) as BuilderConfig;
const client = new ServerClient(cfg.server, cfg.token);
const encoder = new TextEncoder();
const MAX_UPLOAD = 1024 * 1024;
const perJob = cfg.bytesPerSecond / cfg.jobs.length;
const errors: string[] = [];
const ackLatency = new Histogram();
let uploads = 0;
let retries = 0;
let shortAcks = 0;
let firstSend = 0;
let lastAck = 0;

const note = (err: unknown) => {
  if (errors.length < 20) errors.push(String((err as Error)?.message ?? err));
};

const jobs: JobState[] = cfg.jobs.map((id) => ({
  id,
  acked: 0,
  lines: 0,
  sentBytes: 0,
  rest: null,
  restLines: 0,
  nextAt: 0,
  inflight: false,
}));
let startAt = Number.POSITIVE_INFINITY;

const padding = "x".repeat(Math.max(cfg.lineBytes, 64));

/** `count` lines stamped with the send time; each `lineBytes` long including the newline. */
function makeLines(first: number, count: number): string {
  const ts = now().toFixed(3);
  let out = "";
  for (let i = 0; i < count; i++) {
    const seq = first + i;
    const head = `${ts} ${seq} `;
    // One line in four is coloured, as build output often is; the escapes count toward its bytes.
    if (seq % 4 === 0) {
      const fill = Math.max(0, cfg.lineBytes - head.length - 10);
      out += `${head}\x1b[32m${padding.slice(0, fill)}\x1b[0m\n`;
    } else {
      out += `${head}${padding.slice(0, Math.max(0, cfg.lineBytes - head.length - 1))}\n`;
    }
  }
  return out;
}

async function upload(job: JobState, t: number): Promise<void> {
  let body = job.rest;
  let count = job.restLines;
  if (!body) {
    const due = perJob * ((t - startAt) / 1000) - job.sentBytes;
    // A job that fell behind catches up in uploads no larger than the real builder's (1 MiB).
    count = Math.min(Math.floor(due / cfg.lineBytes), Math.floor(MAX_UPLOAD / cfg.lineBytes));
    if (count < 1) return;
    body = encoder.encode(makeLines(job.lines + 1, count));
    job.sentBytes += body.length;
  }
  job.inflight = true;
  const sentAt = now();
  if (!firstSend) firstSend = sentAt;
  try {
    let attempt = 0;
    const at = job.acked;
    const r = await client.retrying(() => {
      if (attempt++ > 0) retries++;
      return client.log(job.id, at, body);
    });
    if (!r.accepted || r.offset < at || r.offset > at + body.length) {
      throw new Error(`job ${job.id}: server acknowledged ${r.offset} of bytes ${at}-${at + body.length}`);
    }
    job.acked = r.offset;
    // Taken in part: the rest goes next, unchanged (new lines would put other bytes at its offsets).
    job.rest = r.offset < at + body.length ? body.subarray(r.offset - at) : null;
    job.restLines = count;
    if (job.rest) shortAcks++;
    else job.lines += count;
    uploads++;
    lastAck = now();
    ackLatency.add(lastAck - sentAt);
  } catch (err) {
    job.rest = body;
    job.restLines = count;
    note(err);
  } finally {
    job.inflight = false;
  }
}

async function heartbeats(until: () => boolean): Promise<void> {
  while (!until()) {
    await Promise.all([...cfg.jobs, ...cfg.heartbeatOnly].map((id) => client.heartbeat(id).catch(note)));
    for (let i = 0; i < 30 && !until(); i++) await Bun.sleep(100);
  }
}

let done = false;
const beating = heartbeats(() => done);
// Warm-up: the jobs are already running when the measurement starts, so each has its log pipeline
// (a WASM instance, made on a job's first upload) before the clock runs. This line has no timestamp.
await Promise.all(
  jobs.map(async (job) => {
    const body = encoder.encode("warm-up\n");
    const r = await client.retrying(() => client.log(job.id, 0, body));
    job.acked = r.offset;
    job.lines = 1;
  }),
);
report({ type: "started" });
for await (const line of stdinLines()) {
  if (line.startsWith("go ")) {
    startAt = Number(line.slice(3));
    break;
  }
}
const stopAt = startAt + cfg.seconds * 1000;
// Jobs start spread over one tick, so uploads arrive evenly rather than in bursts of K.
jobs.forEach((job, i) => {
  job.nextAt = startAt + (i * cfg.tickMs) / jobs.length;
});
await Bun.sleep(Math.max(0, startAt - now()));

const pending = new Set<Promise<void>>();
for (let t = now(); t < stopAt; t = now()) {
  let wake = stopAt;
  for (const job of jobs) {
    if (job.nextAt <= t && !job.inflight) {
      // A job whose last upload is still in flight waits: one upload per job at a time, in order.
      job.nextAt += cfg.tickMs * Math.max(1, Math.ceil((t - job.nextAt) / cfg.tickMs));
      const p = upload(job, t);
      pending.add(p);
      p.finally(() => pending.delete(p));
    }
    if (!job.inflight) wake = Math.min(wake, job.nextAt);
  }
  await Bun.sleep(Math.max(1, Math.min(wake - now(), 20)));
}
// Bounded: a wedged server fails the run rather than hanging it.
await Promise.race([Promise.all(pending), Bun.sleep(60_000)]);
// What short acknowledgements left is sent before the jobs finish, so every line made is counted.
for (let round = 0; round < 1000 && jobs.some((j) => j.rest); round++)
  await Promise.all(jobs.filter((j) => j.rest).map((j) => upload(j, now())));

const totals: Record<string, JobTotals> = {};
for (const job of jobs) totals[job.id] = { bytes: job.acked, lines: job.lines };
report({
  type: "sent",
  jobs: totals,
  uploads,
  retries,
  shortAcks,
  firstSend,
  lastAck,
  ackLatency: ackLatency.toJSON(),
  errors: [...errors],
});

// Finish every job: the server ends each segment, archives the log and sends viewers the result.
const finishErrors: string[] = [];
for (let i = 0; i < jobs.length; i += 16) {
  await Promise.all(
    jobs
      .slice(i, i + 16)
      .map((job) =>
        client
          .finish(job.id, { status: "success", unsandboxed: true, log_bytes: job.acked })
          .catch(
            (err) =>
              finishErrors.length < 20 && finishErrors.push(`finish ${job.id}: ${(err as Error).message}`),
          ),
      ),
  );
}
done = true;
await beating;
await report({ type: "finished", errors: finishErrors });
process.exit(0);
