// `bun run bench:fanout [--jobs K] [--viewers V] [--rate MB/s] [--seconds S] [--idle N] [--json]`
// Live-log fanout over real HTTP on loopback with real processes: the server in its own process,
// builder simulator processes uploading K jobs' logs at an aggregate rate through the ingest API,
// viewer processes holding V SSE connections per job. Reports ingest MB/s, delivered lines/s,
// builder send → viewer receive latency, lost/duplicated lines, server peak RSS and CPU; with
// --idle N, the server's memory per idle SSE connection. See docs/perf.md.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireJob, registerSimBuilder } from "../../tests/support/builder-sim.ts";
import { createRepo } from "../../tests/support/git.ts";
import { type ServerProcess, startServerProcess } from "../../tests/support/server-process.ts";
import type { BuilderConfig } from "./fanout-builder.ts";
import { Child } from "./fanout-children.ts";
import {
  type BuilderMessage,
  type ConnectionReport,
  cpuSeconds,
  Histogram,
  now,
  rssBytes,
  type ViewerMessage,
} from "./fanout-shared.ts";
import type { ViewerConfig } from "./fanout-viewer.ts";

interface Options {
  jobs: number;
  viewers: number;
  rate: number;
  seconds: number;
  idle: number;
  json: boolean;
  lineBytes: number;
  tickMs: number;
  viewerProcs: number;
  builderProcs: number;
  /** Idle connections dialled at once per viewer process (--dial). */
  dial: number;
  /** Directory for the server's CPU profile (bun --cpu-prof --cpu-prof-md), written when it exits. */
  profile?: string;
  /** Preload db-sync-normal.ts into the server: an experiment, reported as such. */
  syncNormal?: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    jobs: 200,
    viewers: 10,
    rate: 20,
    seconds: 20,
    idle: 0,
    json: false,
    lineBytes: 100,
    tickMs: 100,
    viewerProcs: 2,
    builderProcs: 1,
    dial: 128,
  };
  const numeric: Record<string, keyof Options> = {
    "--jobs": "jobs",
    "--viewers": "viewers",
    "--rate": "rate",
    "--seconds": "seconds",
    "--idle": "idle",
    "--line-bytes": "lineBytes",
    "--tick-ms": "tickMs",
    "--viewer-procs": "viewerProcs",
    "--builder-procs": "builderProcs",
    "--dial": "dial",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") o.json = true;
    else if (a === "--profile") o.profile = argv[++i];
    else if (a === "--experiment-sync-normal") o.syncNormal = true;
    else if (numeric[a]) {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${a} needs a non-negative number`);
      (o as unknown as Record<string, number>)[numeric[a]] = v;
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (o.lineBytes < 48)
    throw new Error("--line-bytes must be at least 48 (the timestamp and sequence number)");
  o.viewerProcs = Math.max(1, Math.floor(o.viewerProcs));
  o.builderProcs = Math.max(1, Math.floor(o.builderProcs));
  return o;
}

const USAGE =
  "usage: bun run bench:fanout [--jobs K=200] [--viewers V=10] [--rate MB/s=20] [--seconds S=20] [--idle N=0] [--json]\n" +
  "       [--line-bytes 100] [--tick-ms 100] [--viewer-procs 2] [--builder-procs 1] [--dial 128] [--profile DIR]";

/** Soft limit on open files, from /proc. */
function fdLimit(): { soft: number; hard: number } {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(
    readFileSync("/proc/self/limits", "utf8"),
  );
  const n = (s?: string) => (s === "unlimited" || !s ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

const opts = parseArgs(process.argv.slice(2));
// Each process holds at most one side of every connection; children inherit the limit.
const needFds = Math.max(opts.idle, opts.jobs * opts.viewers) + 1024;
const limit = fdLimit();
if (limit.soft < needFds && !process.env.CAIRN_BENCH_ULIMIT) {
  const want = Math.min(Math.max(needFds, 65536), limit.hard);
  const args = [process.execPath, ...process.argv.slice(1)]
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
    .join(" ");
  const r = Bun.spawnSync(
    ["sh", "-c", `ulimit -n ${want} 2>/dev/null || ulimit -n ${limit.hard}; exec ${args}`],
    {
      env: { ...process.env, CAIRN_BENCH_ULIMIT: "1" },
      stdio: ["inherit", "inherit", "inherit"],
    },
  );
  process.exit(r.exitCode ?? 1);
}
if (limit.soft < needFds)
  console.error(`warning: open-file limit ${limit.soft} is below the ${needFds} this run needs`);

const log = (msg: string) => {
  if (!opts.json) console.log(msg);
  else console.error(msg);
};

const jobNames = (n: number) => Array.from({ length: n }, (_, i) => `j${i}`);
const configYaml = (n: number) => `version: 2.1
jobs:
${jobNames(n)
  .map((j) => `  ${j}:\n    machine: true\n    steps:\n      - run: echo ${j}\n`)
  .join("")}
workflows:
  bench:
    jobs: [${jobNames(n).join(", ")}]
`;

interface Setup {
  /** Builder token → the job ids its lease holds. */
  leases: { token: string; jobs: string[] }[];
  idleJob?: string;
}

async function setUp(server: ServerProcess, jobCount: number, wantIdle: boolean): Promise<Setup> {
  const api = async (path: string, body: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`POST ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as { id: string };
  };
  const total = jobCount + (wantIdle ? 1 : 0);
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": configYaml(total) });
  const project = await api("/api/v1/projects", { name: "fanout-bench", repo_url: repo.bare });
  await api(`/api/v1/projects/${project.id}/pipelines`, { branch: "main" });
  const leases: Setup["leases"] = [];
  let idleJob: string | undefined;
  // A simulated builder registers 256 slots; more jobs take more builders.
  for (let left = total, b = 0; left > 0; b++) {
    const client = await registerSimBuilder(server.url, server.token, `bench-${b}`);
    const take = Math.min(left, 250);
    const jobs: string[] = [];
    for (let i = 0; i < take; i++) jobs.push((await acquireJob(client)).job.id);
    left -= take;
    if (wantIdle && !idleJob) idleJob = jobs.shift();
    leases.push({ token: (client as unknown as { token: string }).token, jobs });
  }
  return { leases, idleJob };
}

/** Splits `items` into `n` near-equal round-robin shares. */
const deal = <T>(items: T[], n: number): T[][] => {
  const out: T[][] = Array.from({ length: n }, () => []);
  items.forEach((x, i) => {
    out[i % n].push(x);
  });
  return out.filter((s) => s.length > 0);
};

interface IdleResult {
  connections: number;
  failed: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  rssAfterGcMb: number;
  perConnectionKb: number;
  perConnectionAfterGcKb: number;
}

async function idlePhase(
  server: ServerProcess,
  job: string,
  children: Child<{ type: string }>[],
): Promise<IdleResult> {
  const pid = server.child.pid!;
  process.kill(pid, "SIGUSR2");
  await Bun.sleep(1500);
  const before = rssBytes(pid);
  const procs = deal(
    Array.from({ length: opts.idle }, () => job),
    Math.min(opts.viewerProcs, Math.max(1, Math.ceil(opts.idle / 1000))),
  ).map((connections, i) => {
    const cfg: ViewerConfig = {
      server: server.url,
      token: server.token,
      mode: "idle",
      connections,
      deadline: now() + 300_000,
      // How many dial at once matters: a storm of simultaneous connects leaves the server a peak
      // that RSS keeps (see docs/perf.md).
      dial: opts.dial,
    };
    const c = new Child<ViewerMessage>(`idle viewer ${i}`, "fanout-viewer.ts", cfg);
    children.push(c);
    return c;
  });
  const ready = await Promise.all(procs.map((c) => c.next("ready", 180_000)));
  const connections = ready.reduce((s, r) => s + r.connections, 0);
  const failed = ready.reduce((s, r) => s + r.failed, 0);
  // Let allocations settle, then take the highest of a few samples; then again after a full GC.
  await Bun.sleep(2000);
  let after = 0;
  for (let i = 0; i < 5; i++) {
    after = Math.max(after, rssBytes(pid));
    await Bun.sleep(200);
  }
  process.kill(pid, "SIGUSR2");
  await Bun.sleep(1500);
  const afterGc = rssBytes(pid);
  for (const c of procs) c.send("close");
  await Promise.all(procs.map((c) => c.next("result", 60_000).catch(() => null)));
  return {
    connections,
    failed,
    rssBeforeMb: before / 2 ** 20,
    rssAfterMb: after / 2 ** 20,
    rssAfterGcMb: afterGc / 2 ** 20,
    perConnectionKb: connections ? (after - before) / 1024 / connections : Number.NaN,
    perConnectionAfterGcKb: connections ? (afterGc - before) / 1024 / connections : Number.NaN,
  };
}

interface LoadResult {
  connections: number;
  ingestMbS: number;
  targetMbS: number;
  sentBytes: number;
  sentLines: number;
  uploads: number;
  retries: number;
  shortAcks: number;
  deliveredLines: number;
  deliveredLinesS: number;
  deliveredMbS: number;
  p50: number;
  p99: number;
  max: number;
  ackP50: number;
  ackP99: number;
  healthP99: number;
  healthMax: number;
  lost: number;
  duplicated: number;
  reconnects: number;
  unfinished: number;
  rssPeakMb: number;
  cpuPct: number;
  viewerCpuPct: number;
  builderCpuPct: number;
  errors: string[];
}

/**
 * Builder simulator processes, started right after the jobs are leased: they keep every lease alive
 * (the idle job's too) and warm up each job's pipeline, then wait for "go".
 */
async function startBuilders(
  server: ServerProcess,
  setup: Setup,
  children: Child<{ type: string }>[],
): Promise<Child<BuilderMessage>[]> {
  const pairs = setup.leases.flatMap((l) => l.jobs.map((job) => ({ token: l.token, job })));
  const shares = deal(pairs, Math.min(opts.builderProcs, Math.max(1, pairs.length)));
  if (shares.length === 0) shares.push([]);
  const builders = shares.map((share, i) => {
    // A process uploads for one builder's lease.
    const token = share[0]?.token ?? setup.leases[0].token;
    if (share.some((p) => p.token !== token))
      throw new Error("a builder process would need two builders' tokens");
    const cfg: BuilderConfig = {
      server: server.url,
      token,
      jobs: share.map((p) => p.job),
      heartbeatOnly: i === 0 && setup.idleJob ? [setup.idleJob] : [],
      bytesPerSecond: pairs.length ? (opts.rate * 1e6 * share.length) / pairs.length : 0,
      seconds: opts.seconds,
      tickMs: opts.tickMs,
      lineBytes: opts.lineBytes,
    };
    const c = new Child<BuilderMessage>(`builder ${i}`, "fanout-builder.ts", cfg);
    children.push(c);
    return c;
  });
  await Promise.all(builders.map((c) => c.next("started", 60_000)));
  return builders;
}

async function loadPhase(
  server: ServerProcess,
  setup: Setup,
  builders: Child<BuilderMessage>[],
  children: Child<{ type: string }>[],
): Promise<LoadResult> {
  const pid = server.child.pid!;
  const allJobs = setup.leases.flatMap((l) => l.jobs);
  const connections: string[] = [];
  for (let v = 0; v < opts.viewers; v++) connections.push(...allJobs);
  const deadline = now() + opts.seconds * 1000 + 180_000;
  const viewers = deal(connections, opts.viewerProcs).map((conns, i) => {
    const cfg: ViewerConfig = {
      server: server.url,
      token: server.token,
      mode: "load",
      connections: conns,
      deadline,
      dial: 128,
    };
    const c = new Child<ViewerMessage>(`viewer ${i}`, "fanout-viewer.ts", cfg);
    children.push(c);
    return c;
  });
  const dialStart = now();
  const ready = await Promise.all(viewers.map((c) => c.next("ready", 300_000)));
  log(`${connections.length} SSE viewers connected in ${((now() - dialStart) / 1000).toFixed(1)} s`);
  const failedViewers = ready.reduce((s, r) => s + r.failed, 0);
  if (failedViewers) throw new Error(`${failedViewers} viewer connections failed to open`);

  const startAt = now() + 1500;
  for (const c of builders) c.send(`go ${startAt}`);

  // Sample the server while the builders send.
  await Bun.sleep(Math.max(0, startAt - now()));
  const cpu0 = cpuSeconds(pid);
  const viewerCpu0 = viewers.reduce((s, c) => s + cpuSeconds(c.pid), 0);
  const builderCpu0 = builders.reduce((s, c) => s + cpuSeconds(c.pid), 0);
  const t0 = now();
  let rssPeak = rssBytes(pid);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      rssPeak = Math.max(rssPeak, rssBytes(pid));
      await Bun.sleep(200);
    }
  })();
  // How long the server takes to answer a trivial request: its event loop's responsiveness.
  const health = new Histogram();
  const prober = (async () => {
    while (sampling) {
      const t = now();
      await fetch(`${server.url}/api/v1/health`)
        .then((r) => r.arrayBuffer())
        .catch(() => {});
      health.add(now() - t);
      await Bun.sleep(100);
    }
  })();
  const sent = await Promise.all(builders.map((c) => c.next("sent", opts.seconds * 1000 + 90_000)));
  const cpu1 = cpuSeconds(pid);
  const viewerCpu1 = viewers.reduce((s, c) => s + cpuSeconds(c.pid), 0);
  const builderCpu1 = builders.reduce((s, c) => s + cpuSeconds(c.pid), 0);
  const t1 = now();

  const finished = await Promise.all(builders.map((c) => c.next("finished", 180_000)));
  // Every viewer ends on the job's `end` event; past the deadline it reports what it has.
  const results = await Promise.all(viewers.map((c) => c.next("result", deadline - now() + 10_000)));
  sampling = false;
  await Promise.all([sampler, prober]);

  const totals: Record<string, { bytes: number; lines: number }> = {};
  for (const s of sent) Object.assign(totals, s.jobs);
  const sentBytes = Object.values(totals).reduce((s, t) => s + t.bytes, 0);
  const sentLines = Object.values(totals).reduce((s, t) => s + t.lines, 0);
  const firstSend = Math.min(...sent.map((s) => s.firstSend || Number.POSITIVE_INFINITY));
  const lastAck = Math.max(...sent.map((s) => s.lastAck));
  const latency = new Histogram();
  const ack = new Histogram();
  for (const r of results) latency.merge(r.latency);
  for (const s of sent) ack.merge(s.ackLatency);
  const conns: ConnectionReport[] = results.flatMap((r) => r.connections);
  let lost = 0;
  let duplicated = 0;
  let reconnects = 0;
  let unfinished = 0;
  for (const c of conns) {
    lost += Math.max(0, (totals[c.job]?.lines ?? 0) - c.received);
    duplicated += c.duplicated;
    reconnects += c.reconnects;
    if (!c.ended) unfinished++;
  }
  const delivered = results.reduce((s, r) => s + r.lines, 0);
  const deliveredBytes = results.reduce((s, r) => s + r.bytes, 0);
  const lastReceive = Math.max(...results.map((r) => r.lastAt));
  const deliverySeconds = Math.max(0.001, (lastReceive - firstSend) / 1000);
  const wall = (t1 - t0) / 1000;
  return {
    connections: conns.length,
    ingestMbS: sentBytes / 1e6 / Math.max(0.001, (lastAck - firstSend) / 1000),
    targetMbS: opts.rate,
    sentBytes,
    sentLines,
    uploads: sent.reduce((s, x) => s + x.uploads, 0),
    retries: sent.reduce((s, x) => s + x.retries, 0),
    shortAcks: sent.reduce((s, x) => s + x.shortAcks, 0),
    deliveredLines: delivered,
    deliveredLinesS: delivered / deliverySeconds,
    deliveredMbS: deliveredBytes / 1e6 / deliverySeconds,
    p50: latency.quantile(0.5),
    p99: latency.quantile(0.99),
    max: latency.quantile(1),
    ackP50: ack.quantile(0.5),
    ackP99: ack.quantile(0.99),
    healthP99: health.quantile(0.99),
    healthMax: health.quantile(1),
    lost,
    duplicated,
    reconnects,
    unfinished,
    rssPeakMb: rssPeak / 2 ** 20,
    cpuPct: ((cpu1 - cpu0) / wall) * 100,
    viewerCpuPct: ((viewerCpu1 - viewerCpu0) / wall) * 100,
    builderCpuPct: ((builderCpu1 - builderCpu0) / wall) * 100,
    errors: [
      ...sent.flatMap((s) => s.errors),
      ...finished.flatMap((f) => f.errors),
      ...results.flatMap((r) => r.errors),
    ].slice(0, 20),
  };
}

const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : "-");

function machine(): string {
  try {
    const model = /Model name:\s*(.+)/.exec(execFileSync("lscpu", { encoding: "utf8" }))?.[1]?.trim();
    return `${navigator.hardwareConcurrency} cores, ${model ?? "unknown CPU"}`;
  } catch {
    return `${navigator.hardwareConcurrency} cores`;
  }
}

const dataDir = mkdtempSync(join(tmpdir(), "cairn-fanout-"));
const children: Child<{ type: string }>[] = [];
let server: ServerProcess | undefined;
let exitCode = 0;
try {
  log(
    `fanout: ${opts.jobs} jobs × ${opts.viewers} viewers, ${opts.rate} MB/s for ${opts.seconds} s, ${opts.idle} idle; ${machine()}; load average ${loadavg()}`,
  );
  if (opts.syncNormal)
    log("EXPERIMENT: server connections run with synchronous = NORMAL (scripts/bench/db-sync-normal.ts)");
  const bunOptions = [
    "--preload",
    join(import.meta.dir, "gc-on-signal.ts"),
    ...(opts.profile
      ? [
          "--cpu-prof",
          "--cpu-prof-md",
          `--cpu-prof-dir=${opts.profile}`,
          "--preload",
          join(import.meta.dir, "exit-on-term.ts"),
        ]
      : []),
    ...(opts.syncNormal ? ["--preload", join(import.meta.dir, "db-sync-normal.ts")] : []),
  ].join(" ");
  const profile: Record<string, string> = bunOptions ? { BUN_OPTIONS: bunOptions } : {};
  if (process.env.CAIRN_LOG_TIMING) profile.CAIRN_LOG_TIMING = "1";
  // The working tree is shared with engineers mid-edit: a start that dies at once is retried.
  for (let attempt = 1; !server; attempt++) {
    try {
      server = await startServerProcess(dataDir, { env: profile });
    } catch (err) {
      if (attempt >= 3) throw err;
      await Bun.sleep(2000);
    }
  }
  const setup = await setUp(server, opts.jobs, opts.idle > 0);
  const builders = await startBuilders(server, setup, children);
  const idle = opts.idle > 0 && setup.idleJob ? await idlePhase(server, setup.idleJob, children) : null;
  const load = opts.jobs > 0 && opts.viewers > 0 ? await loadPhase(server, setup, builders, children) : null;
  const serverPid = server.child.pid!;

  const rows: [string, string][] = [];
  if (load) {
    rows.push(
      ["jobs × viewers", `${opts.jobs} × ${opts.viewers} = ${load.connections} SSE connections`],
      ["line size", `${opts.lineBytes} bytes, uploads every ${opts.tickMs} ms per job`],
      [
        "ingest",
        `${fmt(load.ingestMbS, 2)} MB/s (target ${opts.rate}), ${load.uploads} uploads, ${load.retries} retries, ${load.shortAcks} acknowledged short`,
      ],
      ["ingest ack p50 / p99", `${fmt(load.ackP50)} / ${fmt(load.ackP99)} ms`],
      [
        "health check p99 / max",
        `${fmt(load.healthP99)} / ${fmt(load.healthMax)} ms (server responsiveness)`,
      ],
      ["delivered", `${fmt(load.deliveredLinesS, 0)} lines/s, ${fmt(load.deliveredMbS, 1)} MB/s of SSE`],
      ["latency p50 / p99 / max", `${fmt(load.p50)} / ${fmt(load.p99)} / ${fmt(load.max)} ms`],
      [
        "lost / duplicated lines",
        `${load.lost} / ${load.duplicated} (of ${load.sentLines} lines × ${opts.viewers} viewers)`,
      ],
      ["viewer reconnects / unfinished", `${load.reconnects} / ${load.unfinished}`],
      ["server RSS peak", `${fmt(load.rssPeakMb)} MB`],
      [
        "CPU (server / viewers / builders)",
        `${fmt(load.cpuPct, 0)}% / ${fmt(load.viewerCpuPct, 0)}% / ${fmt(load.builderCpuPct, 0)}%`,
      ],
    );
    if (load.errors.length) rows.push(["errors", load.errors.join("; ")]);
  }
  if (idle) {
    rows.push(
      [
        "idle SSE connections",
        `${idle.connections} (${idle.failed} failed), dialled ${opts.dial} at a time per process`,
      ],
      ["server RSS before / after", `${fmt(idle.rssBeforeMb)} / ${fmt(idle.rssAfterMb)} MB`],
      ["per idle connection", `${fmt(idle.perConnectionKb, 1)} KB`],
      [
        "after a full GC",
        `${fmt(idle.rssAfterGcMb)} MB, ${fmt(idle.perConnectionAfterGcKb, 1)} KB per connection`,
      ],
    );
  }
  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) log(`${k.padEnd(width)}  ${v}`);
  if (opts.json) {
    console.log(
      JSON.stringify({
        jobs: opts.jobs,
        viewers: opts.viewers,
        seconds: opts.seconds,
        rate_target_mb_s: opts.rate,
        line_bytes: opts.lineBytes,
        connections: load?.connections ?? 0,
        ingest_mb_s: load ? Number(load.ingestMbS.toFixed(3)) : 0,
        sent_lines: load?.sentLines ?? 0,
        delivered_lines: load?.deliveredLines ?? 0,
        delivered_lines_s: load ? Math.round(load.deliveredLinesS) : 0,
        p50_ms: load ? Number(load.p50.toFixed(2)) : null,
        p99_ms: load ? Number(load.p99.toFixed(2)) : null,
        max_ms: load ? Number(load.max.toFixed(2)) : null,
        ack_p99_ms: load ? Number(load.ackP99.toFixed(2)) : null,
        health_p99_ms: load ? Number(load.healthP99.toFixed(2)) : null,
        lost: load?.lost ?? 0,
        duplicated: load?.duplicated ?? 0,
        reconnects: load?.reconnects ?? 0,
        short_acks: load?.shortAcks ?? 0,
        unfinished: load?.unfinished ?? 0,
        rss_mb: Number(((load?.rssPeakMb ?? rssBytes(serverPid) / 2 ** 20) as number).toFixed(1)),
        cpu_pct: load ? Math.round(load.cpuPct) : 0,
        viewer_cpu_pct: load ? Math.round(load.viewerCpuPct) : 0,
        builder_cpu_pct: load ? Math.round(load.builderCpuPct) : 0,
        idle_connections: idle?.connections ?? 0,
        idle_dial: opts.dial,
        idle_rss_before_mb: idle ? Number(idle.rssBeforeMb.toFixed(1)) : null,
        idle_rss_after_mb: idle ? Number(idle.rssAfterMb.toFixed(1)) : null,
        rss_per_idle_kb: idle ? Number(idle.perConnectionKb.toFixed(2)) : null,
        idle_rss_after_gc_mb: idle ? Number(idle.rssAfterGcMb.toFixed(1)) : null,
        rss_per_idle_after_gc_kb: idle ? Number(idle.perConnectionAfterGcKb.toFixed(2)) : null,
        errors: load?.errors ?? [],
      }),
    );
  }
} catch (err) {
  console.error(`bench:fanout failed: ${(err as Error).stack ?? err}`);
  if (process.env.CAIRN_LOG_TIMING && server) console.error(server.output());
  if (server) console.error(`server output (tail):\n${server.output().slice(-3000)}`);
  exitCode = 1;
} finally {
  await Promise.all(children.map((c) => c.kill()));
  if (process.env.CAIRN_LOG_TIMING && server)
    console.error(
      server
        .output()
        .split("\n")
        .filter((l) => l.startsWith("TIMING"))
        .join("\n"),
    );
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
