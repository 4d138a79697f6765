// Audits that tests stand alone (#21 item 3): each file under two random orders, then a sample of
// its tests one at a time with `-t`. One file at a time; LXC and browser files wait while
// /work/QUIET exists (the lead is measuring CI).
//
//   bun tests/harness/independence.ts [--seeds 1,2] [--sample 3] [--all-tests] file.test.ts...
//
// Prints one line per file and run, then a summary; exits non-zero when anything failed.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const QUIET = "/work/QUIET";
/** Where the output of each failing run goes. */
const OUT = join(ROOT, "test-output", "independence");

interface Run {
  pass: number;
  fail: number;
  names: string[];
  failed: string[];
  code: number;
}

function bunTest(file: string, extra: string[]): Run {
  const r = spawnSync(process.execPath, ["test", "--timeout", "120000", ...extra, file], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  const lines = out.split("\n");
  const names: string[] = [];
  const failed: string[] = [];
  for (const line of lines) {
    const m = /^\((pass|fail)\) (.*?)(?: \[[\d.]+m?s\])?$/.exec(line);
    if (!m) continue;
    names.push(m[2]);
    if (m[1] === "fail") failed.push(m[2]);
  }
  const count = (what: string) => Number(new RegExp(`^ *(\\d+) ${what}$`, "m").exec(out)?.[1] ?? 0);
  const result = { pass: count("pass"), fail: count("fail"), names, failed, code: r.status ?? 128 };
  if (result.code !== 0 || result.fail > 0) {
    mkdirSync(OUT, { recursive: true });
    const log = join(
      OUT,
      `${file.replace(/[^\w.-]+/g, "_")}${extra.join("_").replace(/[^\w.-]+/g, "_")}.log`.slice(0, 200),
    );
    writeFileSync(log, out);
    console.log(`     output: ${log}`);
  }
  return result;
}

const heavy = (file: string) =>
  /requireLxc\(|startLxcStack|ensureBaseTemplate|createLxcDriver|launchBrowser|playwright-core/.test(
    readFileSync(join(ROOT, file), "utf8"),
  ) || file.endsWith(".e2e.test.ts");

async function waitQuiet(file: string): Promise<void> {
  while (heavy(file) && existsSync(QUIET)) await Bun.sleep(15_000);
}

/** `-t` takes a regex: the test's own name (after the last ` > `), escaped. */
const pattern = (name: string) => (name.split(" > ").pop() ?? name).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

const args = process.argv.slice(2);
let seeds = [1, 2];
let sample = 3;
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--seeds") seeds = args[++i].split(",").map(Number);
  else if (args[i] === "--sample") sample = Number(args[++i]);
  else if (args[i] === "--all-tests") sample = Number.POSITIVE_INFINITY;
  else files.push(args[i]);
}

const bad: string[] = [];
for (const file of files) {
  const path = file.startsWith("./") || file.startsWith("/") ? file : `./${file}`;
  await waitQuiet(file);
  let names: string[] = [];
  for (const seed of seeds) {
    const r = bunTest(path, ["--randomize", "--seed", String(seed)]);
    names = r.names.length > names.length ? r.names : names;
    const ok = r.code === 0 && r.fail === 0;
    console.log(`${ok ? "ok  " : "FAIL"} ${file} --randomize --seed ${seed}: ${r.pass} pass, ${r.fail} fail`);
    if (!ok) bad.push(`${file} --seed ${seed}: ${r.failed.join("; ") || `exit ${r.code}`}`);
  }
  // A spread of tests: first, last and evenly between (all with --all-tests).
  const picks =
    names.length <= sample
      ? names
      : [
          ...new Set(
            Array.from(
              { length: sample },
              (_, i) => names[Math.round((i * (names.length - 1)) / (sample - 1 || 1))],
            ),
          ),
        ];
  for (const name of picks) {
    await waitQuiet(file);
    const r = bunTest(path, ["-t", pattern(name)]);
    const ok = r.code === 0 && r.fail === 0 && r.pass > 0;
    console.log(`${ok ? "ok  " : "FAIL"} ${file} -t ${JSON.stringify(name)}: ${r.pass} pass, ${r.fail} fail`);
    if (!ok) bad.push(`${file} -t ${JSON.stringify(name)}: ${r.failed.join("; ") || `exit ${r.code}`}`);
  }
}
console.log(
  bad.length ? `\nindependence: ${bad.length} failing:\n  ${bad.join("\n  ")}` : "\nindependence: all passed",
);
process.exitCode = bad.length ? 1 : 0;
