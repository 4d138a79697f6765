// `npm test`: every test file, in lanes that run at the same time because they do not compete for
// the same thing: `unit` and `pipeline` (in-process servers, sshd, git; the second the log pipeline's
// and the builder's files), `browser` (Chromium) and `lxc` (containers, builders, the fleet host).
// Each lane is one `bun test` with its own JUnit report; the reports are merged into one, and the
// ten slowest files and every failure (file, line, name, the first lines of its message) are printed
// at the end, where a CI log's tail shows them. A lane whose Bun crashed (its panic banner, or a
// fatal signal) runs again once, and the summary says so. TMPDIR is the run's own folder, removed
// when it ends.
//
//   npm test                                   all lanes
//   npm test -- path/to/file.test.ts [-t name] just those files, one `bun test`, as given
//   npm test -- -t 'name'                      all lanes, each filtered by name
//   npm test -- --reporter=junit --reporter-outfile=FILE   also the merged report (what .ci/run reads)
//
// Anything else after `--` goes to every `bun test` as is.

import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";

const ROOT = join(import.meta.dir, "..");
/** `bun test` flags that take the next argument as their value. */
const VALUE_FLAGS = new Set([
  "-t",
  "--test-name-pattern",
  "--timeout",
  "--rerun-each",
  "--seed",
  "--max-concurrency",
  "--preload",
  "--coverage-dir",
  "--coverage-reporter",
]);
/** Cross-process tests take seconds; `bunfig.toml`'s timeout is not read by this Bun. */
const TIMEOUT = ["--timeout", "120000"];

interface Lane {
  name: string;
  /** Which files belong here, judged by path and content; the first matching lane takes a file. */
  claims(path: string, text: string): boolean;
}

const LANES: Lane[] = [
  {
    name: "lxc",
    claims: (path, text) =>
      path.endsWith(".e2e.test.ts") ||
      /requireLxc\(|startLxcStack|ensureBaseTemplate|createLxcDriver|CAIRN_REQUIRE_LXC/.test(text),
  },
  { name: "browser", claims: (_, text) => /launchBrowser|playwright-core|testing\/browser/.test(text) },
  // In-process files split in two of about the same time (~15 and ~13 CPU-minutes under load in
  // one CI run): the log pipeline's and the builder's, mostly CPU; the server's and the rest.
  { name: "pipeline", claims: (path) => path.startsWith("wasm/") || path.startsWith("builder/") },
  { name: "unit", claims: () => true },
];

interface Args {
  files: string[];
  pass: string[];
  junitOut?: string;
}

function parseArgs(argv: string[]): Args {
  const out: Args = { files: [], pass: [] };
  let junit = false;
  let junitOut: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--reporter=junit") junit = true;
    else if (a === "--reporter" && argv[i + 1] === "junit") {
      junit = true;
      i++;
    } else if (a.startsWith("--reporter-outfile=")) junitOut = a.slice("--reporter-outfile=".length);
    else if (a === "--reporter-outfile") junitOut = argv[++i];
    else if (VALUE_FLAGS.has(a)) out.pass.push(a, argv[++i] ?? "");
    else if (a.startsWith("-")) out.pass.push(a);
    else out.files.push(a);
  }
  if (junit || junitOut) out.junitOut = junitOut ?? "test-output/junit.xml";
  return out;
}

/** Every `*.test.ts` in the repository, as `bun test` would find them. */
function testFiles(dir = ROOT): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || ["node_modules", "test-output", "dist", "build"].includes(entry.name))
      continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...testFiles(full));
    else if (entry.name.endsWith(".test.ts")) found.push(relative(ROOT, full));
  }
  return found.sort();
}

interface LaneRun {
  lane: string;
  files: string[];
  /** `(pass|fail|skip) name` lines as the lane printed them: the count when it died without a report. */
  results?: string[];
  code: number;
  seconds: number;
  report?: string;
  /** Bun crashed on the first run of this lane, so it ran twice: why. */
  crashedOnce?: string;
  /** The lane's last lines of output. */
  tail?: string[];
}

export interface Ran {
  code: number;
  seconds: number;
  /** `-t` matched nothing in this lane's files (bun says so and exits 1). */
  matchedNone: boolean;
  results: string[];
  /** Why Bun itself died, when it did: its panic line, or the fatal signal. */
  crash?: string;
  /** The lane's last lines of output: what is shown of a lane that ended without a report. */
  tail: string[];
}

/** Signals a test cannot end Bun with on purpose: a fault in Bun (or in native code it runs). */
const CRASH_SIGNALS = new Set(["SIGSEGV", "SIGBUS", "SIGILL", "SIGABRT", "SIGTRAP", "SIGFPE"]);
const TAIL_LINES = 12;

/**
 * One `bun test`, its lines prefixed with the lane's name when `prefix` (lanes run at once; without
 * it the output is inherited as is). `cwd` is the repository's root but for the runner's own tests.
 */
export function runBun(
  lane: string,
  argv: string[],
  prefix: boolean,
  cwd = ROOT,
  write: (s: string) => void = (s) => void process.stdout.write(s),
): Promise<Ran> {
  const started = performance.now();
  let matchedNone = false;
  let panic: string | undefined;
  const results: string[] = [];
  const tail: string[] = [];
  const line = (text: string) => {
    if (/^error: regex .* matched 0 tests/.test(text)) matchedNone = true;
    if (/^\((pass|fail|skip|todo)\) /.test(text)) results.push(text);
    if (!panic && /^panic\(|Bun has crashed/.test(text)) panic = text.trim();
    if (text.trim()) {
      tail.push(text);
      if (tail.length > TAIL_LINES) tail.shift();
    }
    write(`[${lane}] ${text}\n`);
  };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["test", ...argv], {
      cwd,
      stdio: prefix ? ["ignore", "pipe", "pipe"] : "inherit",
      env: { ...process.env, CAIRN_TEST_LANE: lane },
    });
    if (prefix) {
      // Lines from the lanes interleave: each says which lane it came from.
      for (const stream of [child.stdout, child.stderr]) {
        let rest = "";
        stream?.on("data", (b: Buffer) => {
          const lines = (rest + b.toString()).split("\n");
          rest = lines.pop() ?? "";
          for (const text of lines) line(text);
        });
        stream?.on("end", () => rest && line(rest));
      }
    }
    child.on("error", (err) => {
      console.error(`[${lane}] could not start bun test: ${err.message}`);
      resolve({ code: 127, seconds: 0, matchedNone, results, tail });
    });
    child.on("close", (code, signal) =>
      resolve({
        code: code ?? (signal ? 128 : 1),
        seconds: (performance.now() - started) / 1000,
        matchedNone,
        results,
        // Killed by a fault, or said it crashed and did not exit cleanly; a test printing the
        // banner alone (and passing) is not a crash.
        crash:
          signal && CRASH_SIGNALS.has(signal)
            ? (panic ?? `killed by ${signal}`)
            : panic && code !== 0
              ? panic
              : undefined,
        tail,
      }),
    );
  });
}

/**
 * A lane's `bun test`, run again once when Bun crashed: an intermittent fault in Bun is not a test
 * failure, but it is said at the time and in the summary, and a second crash fails the lane.
 */
export async function runLane(
  lane: string,
  argv: string[],
  cwd = ROOT,
  write: (s: string) => void = (s) => void process.stdout.write(s),
): Promise<Ran & { crashedOnce?: string }> {
  const first = await runBun(lane, argv, true, cwd, write);
  if (!first.crash) return first;
  write(
    `npm test: lane ${lane}: Bun crashed after ${first.seconds.toFixed(0)} s (${first.crash}); ` +
      `its ${first.results.length} results so far are dropped and the lane runs again, once\n`,
  );
  const second = await runBun(lane, argv, true, cwd, write);
  return { ...second, seconds: first.seconds + second.seconds, crashedOnce: first.crash };
}

const xmlAttr = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The `<testsuite>` elements of a bun JUnit report (one per file), or a failing one saying why there are none. */
export function suitesOf(run: LaneRun): string {
  const xml = run.report && existsSync(run.report) ? readFileSync(run.report, "utf8") : "";
  const body = /<testsuites[^>]*>([\s\S]*)<\/testsuites>/.exec(xml)?.[1] ?? "";
  const failures = (body.match(/<(failure|error)[ >/]/g) ?? []).length;
  // A lane that died, or failed outside any test (an error between tests), still counts as a failure.
  if (body && (run.code === 0 || failures > 0)) return body;
  const why = body
    ? `bun test exited ${run.code} with every test passing: an error outside a test (see the [${run.lane}] log)`
    : `bun test exited ${run.code} without a report (see the [${run.lane}] log)`;
  // No report (bun was killed): the tests it printed a result for still count, as printed.
  const printed = body
    ? ""
    : (run.results ?? [])
        .map((line) => {
          const [, result, name] = /^\((\w+)\) (.*?)(?: \[[\d.]+m?s\])?$/.exec(line) ?? [];
          const inner = result === "fail" ? "<failure />" : result === "pass" ? "" : "<skipped />";
          return `    <testcase name="${xmlAttr(name ?? line)}" classname="lane ${run.lane}">${inner}</testcase>\n`;
        })
        .join("");
  return `${body}${printed ? `  <testsuite name="lane ${run.lane}, as printed">\n${printed}  </testsuite>\n` : ""}  <testsuite name="lane ${run.lane}" tests="1" failures="1" time="${run.seconds}">
    <testcase name="${xmlAttr(why)}" classname="lane ${run.lane}" time="0"><failure message="${xmlAttr(why)}" /></testcase>
  </testsuite>
`;
}

function merge(runs: LaneRun[]): string {
  const body = runs.map(suitesOf).join("");
  const count = (re: RegExp) => (body.match(re) ?? []).length;
  const tests = count(/<testcase /g);
  const failures = count(/<(failure|error)[ >/]/g);
  const skipped = count(/<skipped/g);
  const time = Math.max(0, ...runs.map((r) => r.seconds));
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="bun test" tests="${tests}" failures="${failures}" skipped="${skipped}" time="${time}">
${body}</testsuites>
`;
}

export interface Failure {
  file?: string;
  line?: string;
  /** The test's describe block and name, `block > name`. */
  name: string;
  message: string;
}

const unescapeXml = (s: string) =>
  s.replace(/&(#\d+|#x[\da-f]+|lt|gt|quot|apos|amp);/gi, (_, e: string) => {
    if (e[0] === "#") return String.fromCodePoint(Number(e[1] === "x" ? `0${e.slice(1)}` : e.slice(1)));
    return { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" }[e.toLowerCase()] ?? _;
  });

function attrs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([\w:-]+)="([^"]*)"/g)) out[m[1]] = unescapeXml(m[2]);
  return out;
}

/** The failed test cases of a JUnit report (or part of one), in report order, with their messages. */
export function failuresOf(xml: string): Failure[] {
  const out: Failure[] = [];
  for (const tc of xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const failure = /<(failure|error)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/\1>)/.exec(tc[2] ?? "");
    if (!failure) continue;
    const a = attrs(tc[1]);
    const f = attrs(failure[2]);
    const name = a.classname && !a.classname.startsWith("lane ") ? `${a.classname} > ${a.name}` : a.name;
    out.push({
      file: a.file,
      line: a.line,
      name: name ?? "(unnamed)",
      message: unescapeXml(failure[3] ?? "") || f.message || f.type || "",
    });
  }
  return out;
}

const SHOWN_FAILURES = 25;
const MESSAGE_LINES = 8;
const LINE_WIDTH = 200;

/**
 * What failed, for the end of the run: each failed test with its file and line and the first lines
 * of its message; a lane that crashed or ended without a report, with its last lines.
 */
export function failureSummary(runs: LaneRun[]): string[] {
  const out: string[] = [];
  const clip = (s: string) => (s.length > LINE_WIDTH ? `${s.slice(0, LINE_WIDTH)}…` : s);
  let shown = 0;
  let more = 0;
  for (const run of runs) {
    if (run.crashedOnce)
      out.push(
        `  [${run.lane}] Bun crashed on the lane's first run (${clip(run.crashedOnce)}); it ran again`,
      );
    const failures = failuresOf(suitesOf(run));
    for (const f of failures) {
      if (shown === SHOWN_FAILURES) {
        more++;
        continue;
      }
      shown++;
      const where = f.file ? `${f.file}${f.line ? `:${f.line}` : ""}  ` : "";
      out.push(`  [${run.lane}] ${where}${clip(f.name)}`);
      const lines = f.message.split("\n").filter((l) => l.trim());
      for (const l of lines.slice(0, MESSAGE_LINES)) out.push(`      ${clip(l.trimEnd())}`);
      if (lines.length > MESSAGE_LINES)
        out.push(`      … ${lines.length - MESSAGE_LINES} more lines in the log`);
    }
    const reported = run.report && existsSync(run.report);
    if ((run.code !== 0 || !reported) && run.tail?.length && !failures.some((f) => f.file)) {
      out.push(`  [${run.lane}] its last lines:`);
      for (const l of run.tail) out.push(`      ${clip(l.trimEnd())}`);
    }
  }
  if (more) out.push(`  … and ${more} more failed tests (the [lane] log above, or the JUnit report)`);
  return out;
}

/** Per-file times from the reports: the outermost `<testsuite file=...>` of each file. */
function fileTimes(runs: LaneRun[]): { file: string; lane: string; seconds: number }[] {
  const times: { file: string; lane: string; seconds: number }[] = [];
  for (const run of runs) {
    if (!run.report || !existsSync(run.report)) continue;
    for (const m of readFileSync(run.report, "utf8").matchAll(
      /^ {2}<testsuite name="[^"]*" file="([^"]*)"[^>]* time="([\d.]+)"/gm,
    ))
      times.push({ file: m[1], lane: run.lane, seconds: Number(m[2]) });
  }
  return times.sort((a, b) => b.seconds - a.seconds);
}

const RUN_TMP = /^cairn-test-tmp-(\d+)-/;

/**
 * The run's own temporary folder, TMPDIR for every `bun test` it starts: whatever a test leaves in
 * it (a repository, a data dir) goes when the run ends, failed or not. One a killed run left (its
 * process gone) is removed first; nothing else in /tmp is touched.
 */
function runTmp(): { dir: string; remove(): void } {
  const base = tmpdir();
  for (const name of readdirSync(base)) {
    const pid = RUN_TMP.exec(name)?.[1];
    if (pid && !existsSync(`/proc/${pid}`)) rmSync(join(base, name), { recursive: true, force: true });
  }
  const dir = mkdtempSync(join(base, `cairn-test-tmp-${process.pid}-`));
  // As /tmp is: containers' unprivileged ids and sshd's test users make their own folders in it.
  chmodSync(dir, 0o1777);
  return {
    dir,
    remove() {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch (err) {
        console.error(`npm test: could not remove ${dir}: ${(err as Error).message}`);
      }
    },
  };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const tmp = runTmp();
  process.env.TMPDIR = tmp.dir;
  try {
    return await runLanes(args);
  } finally {
    tmp.remove();
  }
}

async function runLanes(args: Args): Promise<number> {
  if (args.files.length) {
    // Just the files asked for, as plain `bun test` would run them.
    const paths = args.files.map((f) =>
      f.startsWith("/") || f.startsWith(".") || !existsSync(f) ? f : `./${f}`,
    );
    const junit = args.junitOut ? ["--reporter=junit", `--reporter-outfile=${args.junitOut}`] : [];
    return (await runBun("test", [...TIMEOUT, ...junit, ...args.pass, ...paths], false)).code;
  }

  const outDir = join(ROOT, "test-output", "lanes");
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const byLane = new Map<string, string[]>(LANES.map((l) => [l.name, []]));
  for (const file of testFiles()) {
    const text = readFileSync(join(ROOT, file), "utf8");
    const lane = LANES.find((l) => l.claims(file, text)) ?? LANES[LANES.length - 1];
    byLane.get(lane.name)?.push(file);
  }
  for (const [lane, files] of byLane) console.log(`npm test: lane ${lane}: ${files.length} files`);

  const ran = await Promise.all(
    [...byLane]
      .filter(([, files]) => files.length)
      .map(async ([lane, files]): Promise<LaneRun> => {
        const report = join(outDir, `junit-${lane}.xml`);
        const argv = [
          ...TIMEOUT,
          "--reporter=junit",
          `--reporter-outfile=${report}`,
          ...args.pass,
          ...files.map((f) => `./${f}`),
        ];
        const { code, seconds, matchedNone, results, tail, crashedOnce } = await runLane(lane, argv);
        // With -t, a lane none of whose tests match ran nothing and failed nothing.
        return matchedNone
          ? { lane, files: [], code: 0, seconds }
          : { lane, files, code, seconds, report, results, tail, crashedOnce };
      }),
  );
  const runs = ran.filter((r) => r.files.length);
  if (!runs.length) {
    console.error("npm test: no test matched");
    return 1;
  }

  const merged = merge(runs);
  if (args.junitOut) {
    const out = join(ROOT, args.junitOut);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, merged);
  }
  const n = (re: RegExp) => (merged.match(re) ?? []).length;
  const tests = n(/<testcase /g);
  const failed = n(/<(failure|error)[ >/]/g);
  const skipped = n(/<skipped/g);

  console.log("\nnpm test: lanes");
  for (const r of runs)
    console.log(
      `  ${r.lane.padEnd(8)} ${r.seconds.toFixed(0).padStart(5)} s  ${r.files.length} files  exit ${r.code}${r.crashedOnce ? "  (run twice: Bun crashed the first time)" : ""}`,
    );
  console.log("npm test: the ten slowest test files");
  for (const t of fileTimes(runs).slice(0, 10))
    console.log(`  ${t.seconds.toFixed(1).padStart(7)} s  ${t.file}  [${t.lane}]`);
  const failures = failureSummary(runs);
  if (failures.length) console.log(`npm test: what failed\n${failures.join("\n")}`);
  console.log(`npm test: ${tests - failed - skipped} passed, ${failed} failed, ${skipped} skipped`);
  return runs.every((r) => r.code === 0) && failed === 0 ? 0 : 1;
}

if (import.meta.main) process.exitCode = await main();
