import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { buildbotMissing, startBuildbot } from "./compare-buildbot.ts";
import { startCairn } from "./compare-cairn.ts";
import {
  type Contender,
  commitOf,
  type JobRun,
  jobCommands,
  loadavg,
  stopRegistry,
} from "./compare-shared.ts";

const USAGE = "usage: bun run bench:trigger [--rounds N=10] [--before DIR] [--no-buildbot] [--json]";

function parseArgs(argv: string[]) {
  const o = { rounds: 10, before: "", buildbot: true, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") o.json = true;
    else if (a === "--no-buildbot") o.buildbot = false;
    else if (a === "--before") o.before = resolve(argv[++i] ?? "");
    else if (a === "--rounds") {
      o.rounds = Number(argv[++i]);
      if (!Number.isInteger(o.rounds) || o.rounds < 1)
        throw new Error(`--rounds needs a positive whole number\n${USAGE}`);
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
const missing = opts.buildbot ? buildbotMissing() : undefined;
if (missing) {
  console.error(`${missing}\n(or --no-buildbot)`);
  process.exit(3);
}

const root = join(import.meta.dir, "..", "..");

const jobs = jobCommands(1, 1);
const { track, stopAll } = stopRegistry();

const contenders: { label: string; c: Contender; runs: JobRun[] }[] = [];
const loadBefore = loadavg();
let failed = 0;
try {
  say(`bench:trigger at ${commitOf(root)}, load average ${loadBefore}`);
  contenders.push({ label: `Cairn ${commitOf(root)}`, c: await startCairn(jobs, track), runs: [] });
  if (opts.before) {
    // The other checkout's own harness: its server, builder and way of reading the answer.
    const other = (await import(join(opts.before, "scripts/bench/compare-cairn.ts"))) as {
      startCairn: typeof startCairn;
    };
    contenders.push({
      label: `Cairn ${commitOf(opts.before)} (before)`,
      c: await other.startCairn(jobs, track),
      runs: [],
    });
  }
  if (opts.buildbot) contenders.push({ label: "Buildbot", c: await startBuildbot(jobs, track), runs: [] });
  for (let round = 1; round <= opts.rounds; round++) {
    for (const x of contenders) {
      const r = await x.c.run("trivial", { watchFirstLine: true });
      x.runs.push(r);
      if (r.status !== "success") failed++;
      say(
        `round ${round} ${x.label.padEnd(24)} answered ${ms(r.answered_ms)}, first line ${ms(r.first_line_ms ?? Number.NaN)}, finished ${ms(r.finished_ms)} (${r.status})`,
      );
    }
  }
} finally {
  await stopAll();
}
const loadAfter = loadavg();

function ms(v: number) {
  return Number.isFinite(v) ? `${Math.round(v)} ms` : "—";
}
function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const cell = (xs: number[]) => {
  const v = xs.filter(Number.isFinite);
  return v.length ? `${ms(median(v))} (${ms(Math.min(...v))}–${ms(Math.max(...v))})` : "—";
};
const measures: [string, (r: JobRun) => number][] = [
  ["trigger answered", (r) => r.answered_ms],
  ["first line at a viewer", (r) => r.first_line_ms ?? Number.NaN],
  ["finished", (r) => r.finished_ms],
];

if (opts.json) {
  console.log(
    JSON.stringify({
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, load_before: loadBefore, load_after: loadAfter },
      options: opts,
      systems: contenders.map((x) => ({ label: x.label, describe: x.c.describe, runs: x.runs })),
      failed_runs: failed,
    }),
  );
} else {
  const header = ["trivial job", ...contenders.map((x) => x.label)];
  const table = [
    header,
    ...measures.map(([name, pick]) => [name, ...contenders.map((x) => cell(x.runs.map(pick)))]),
  ];
  const widths = header.map((_, i) => Math.max(...table.map((t) => t[i].length)));
  say("");
  for (const [i, t] of table.entries()) {
    say(`| ${t.map((c, j) => c.padEnd(widths[j])).join(" | ")} |`);
    if (i === 0) say(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  }
  say(
    `\nmedian (min–max) of ${opts.rounds} round(s), interleaved; ${cpus().length} CPUs, load average ${loadBefore} before, ${loadAfter} after.` +
      (failed ? `\n${failed} run(s) did not succeed.` : ""),
  );
}
