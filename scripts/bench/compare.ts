import { cpus } from "node:os";
import { join } from "node:path";
import { buildbotMissing, startBuildbot } from "./compare-buildbot.ts";
import { startCairn } from "./compare-cairn.ts";
import {
  type Contender,
  commitOf,
  type JobRun,
  type Jobs,
  jobCommands,
  loadavg,
  rssMb,
  stopRegistry,
} from "./compare-shared.ts";

const USAGE =
  "usage: bun run bench:compare [--rounds N=3] [--seq N=6000000] [--hold S=8] [--settle S=5] [--json]";

function parseArgs(argv: string[]) {
  const o = { rounds: 3, seq: 6_000_000, hold: 8, settle: 5, json: false, lxc: false };
  const numeric: Record<string, "rounds" | "seq" | "hold" | "settle"> = {
    "--rounds": "rounds",
    "--seq": "seq",
    "--hold": "hold",
    "--settle": "settle",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") o.json = true;
    else if (a === "--lxc") o.lxc = true;
    else if (numeric[a]) {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a positive whole number\n${USAGE}`);
      o[numeric[a]] = v;
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return o;
}

let opts: ReturnType<typeof parseArgs>;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const say = (msg: string) => (opts.json ? console.error(msg) : console.log(msg));

const missing = buildbotMissing();
if (missing) {
  console.error(missing);
  process.exit(3);
}

const root = join(import.meta.dir, "..", "..");
const commit = commitOf(root);

const contenders: Contender[] = [];
const { track, stopAll } = stopRegistry((sig) => say(`${sig}: stopping both systems`));

type Runs = Record<keyof Jobs, JobRun[]>;
const jobs = jobCommands(opts.seq, opts.hold);
const loadBefore = loadavg();
const runs = new Map<string, Runs>();
const idle = new Map<string, { server_mb: number; agent_mb: number }>();
let failed = 0;
try {
  say(`bench:compare at ${commit}, load average ${loadBefore}; starting Cairn and Buildbot on 127.0.0.1`);
  contenders.push(await startCairn(jobs, track, { lxc: opts.lxc }));
  contenders.push(await startBuildbot(jobs, track));
  for (const c of contenders) {
    say(`  ${c.name}: ${c.describe}`);
    runs.set(c.name, { big: [], trivial: [], running: [] });
  }
  for (let round = 1; round <= opts.rounds; round++) {
    for (const job of ["big", "trivial", "running"] as const) {
      for (const c of contenders) {
        const r = await c.run(job, { watchFirstLine: job !== "big" });
        runs.get(c.name)?.[job].push(r);
        if (r.status !== "success") failed++;
        const first = r.first_line_ms === undefined ? "" : `, first line ${ms(r.first_line_ms)}`;
        say(
          `round ${round} ${job.padEnd(7)} ${c.name.padEnd(8)} answered ${ms(r.answered_ms)}${first}, ` +
            `finished ${ms(r.finished_ms)} (${r.status}); peak RSS ${mb(r.server_peak_mb)} + ${mb(r.agent_peak_mb)}`,
        );
      }
    }
  }
  // Idle: both systems have run every round; each settles before its RSS is read.
  await Bun.sleep(opts.settle * 1000);
  for (const c of contenders)
    idle.set(c.name, { server_mb: rssMb(c.serverPid), agent_mb: rssMb(c.agentPid) });
} finally {
  await stopAll();
}

function ms(v: number) {
  return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`;
}
function mb(v: number) {
  return `${Math.round(v)} MB`;
}
function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One row of the table: a measure, each side's median (and range), and Cairn / Buildbot. */
function row(measure: string, pick: (r: Runs, name: string) => number[], fmt: (v: number) => string) {
  const [a, b] = contenders.map((c) =>
    pick(runs.get(c.name) as Runs, c.name).filter((v) => Number.isFinite(v)),
  );
  const cell = (xs: number[]) =>
    xs.length === 0
      ? "—"
      : xs.length === 1
        ? fmt(xs[0])
        : `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
  const ratio = a.length && b.length ? median(a) / median(b) : Number.NaN;
  return { measure, cairn: a, buildbot: b, ratio, text: [measure, cell(a), cell(b), `${ratio.toFixed(2)}×`] };
}

const idleOf = (name: string) => idle.get(name) ?? { server_mb: Number.NaN, agent_mb: Number.NaN };
const rows = [
  row(`(a) seq 1 ${opts.seq}: job wall time`, (r) => r.big.map((x) => x.finished_ms), ms),
  row("(a) same: server / master peak RSS", (r) => r.big.map((x) => x.server_peak_mb), mb),
  row("(a) same: builder / worker peak RSS", (r) => r.big.map((x) => x.agent_peak_mb), mb),
  row("idle server / master RSS after the rounds", (_, name) => [idleOf(name).server_mb], mb),
  row("(b) trivial job: trigger answered", (r) => r.trivial.map((x) => x.answered_ms), ms),
  row("(b) same: first line at a viewer", (r) => r.trivial.map((x) => x.first_line_ms ?? Number.NaN), ms),
  row("(b) same: finished", (r) => r.trivial.map((x) => x.finished_ms), ms),
  row(
    `(c) first line while the job runs ${opts.hold} s`,
    (r) => r.running.map((x) => x.first_line_ms ?? Number.NaN),
    ms,
  ),
];
const loadAfter = loadavg();

if (opts.json) {
  console.log(
    JSON.stringify({
      date: new Date().toISOString(),
      commit,
      machine: { cpus: cpus().length, load_before: loadBefore, load_after: loadAfter },
      options: opts,
      jobs,
      systems: Object.fromEntries(
        contenders.map((c) => [
          c.name.toLowerCase(),
          {
            describe: c.describe,
            pids: { server: c.serverPid, agent: c.agentPid },
            runs: runs.get(c.name),
            idle: idle.get(c.name),
          },
        ]),
      ),
      table: rows.map(({ measure, cairn, buildbot, ratio }) => ({
        measure,
        cairn,
        buildbot,
        cairn_over_buildbot: Number.isFinite(ratio) ? Math.round(ratio * 100) / 100 : null,
      })),
      failed_runs: failed,
    }),
  );
} else {
  const header = ["measure", "Cairn", "Buildbot", "Cairn / Buildbot"];
  const table = [header, ...rows.map((r) => r.text)];
  const widths = header.map((_, i) => Math.max(...table.map((t) => t[i].length)));
  say("");
  for (const [i, t] of table.entries()) {
    say(`| ${t.map((cell, j) => cell.padEnd(widths[j])).join(" | ")} |`);
    if (i === 0) say(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  }
  say(
    `\nmedian (min–max) of ${opts.rounds} round(s), interleaved; ${cpus().length} CPUs, load average ${loadBefore} before, ${loadAfter} after.\n` +
      (opts.lxc
        ? "Cairn: LXC driver, a fresh container per job (Buildbot's worker runs the job's shell on this machine).\n"
        : "Cairn: process driver, no container (the job's shell runs on this machine, as Buildbot's worker runs it).\n") +
      "Buildbot's worker sends output after 64 KiB or 5 s (its defaults): that is its first-line time, not polling.",
  );
}
if (failed) {
  console.error(`${failed} job run(s) did not succeed`);
  process.exit(1);
}
