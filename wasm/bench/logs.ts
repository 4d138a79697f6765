// `bun run bench:logs [--json] [--mb N] [--rounds N] [--against REF]`: throughput of the WASM pipeline against
// the TypeScript reference on the same inputs in the same run, secret-count scaling, and memory
// flatness. Both produce JSON out: the module writes it itself; the reference's objects are
// stringified. `--against REF` also runs the module as it is at git revision REF, interleaved with
// this one, and prints each workload's time as a ratio to it (the fair way to compare on a shared
// machine).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createReferencePipeline,
  type LogPipelineFactory,
  loadLogPipeline,
  type WasmPipeline,
} from "../index.ts";
import type { LogPipeline } from "../types.ts";
import { corpusLogs, logWithSecret, progressLog, secrets, singleLine, typicalLog } from "./workloads.ts";

const args = process.argv.slice(2);
const json = args.includes("--json");
const mbArg = args.indexOf("--mb");
const MB = mbArg >= 0 ? Number(args[mbArg + 1]) : 32;
const PIECE = 64 * 1024;
const factory = await loadLogPipeline();
const againstArg = args.indexOf("--against");
const against = againstArg >= 0 ? await factoryAt(args[againstArg + 1]) : null;

/**
 * The pipeline as it is at a git revision: its wasm/ exported to a temporary directory (outside the
 * checkout, so test runs never find its tests) with this checkout's node_modules, and built there.
 */
async function factoryAt(ref: string): Promise<{ ref: string; factory: LogPipelineFactory }> {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const sha = execFileSync("git", ["rev-parse", "--short", ref], { cwd: root }).toString().trim();
  const dir = join(tmpdir(), `cairn-bench-logs-${sha}`);
  if (!existsSync(join(dir, "wasm", "index.ts"))) {
    mkdirSync(dir, { recursive: true });
    const tar = execFileSync("git", ["archive", sha, "wasm"], { cwd: root, maxBuffer: 1 << 30 });
    execFileSync("tar", ["-x", "-C", dir], { input: tar });
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  }
  const module = (await import(join(dir, "wasm", "index.ts"))) as { loadLogPipeline: typeof loadLogPipeline };
  return { ref: sha, factory: await module.loadLogPipeline() };
}

type Run = (input: Uint8Array, secrets: string[]) => number;

/** Output bytes, so the work cannot be optimised away. */
const wasmRun: Run = (input, s) => {
  const p = factory.create({ secrets: s }) as WasmPipeline;
  let out = 0;
  for (let at = 0; at < input.length; at += PIECE) out += p.pushJson(input.subarray(at, at + PIECE)).length;
  out += p.flushJson().length;
  p.dispose();
  return out;
};

/** The same as wasmRun, with the module at `--against REF`. */
const againstRun: Run = (input, s) => {
  const p = against!.factory.create({ secrets: s }) as WasmPipeline;
  let out = 0;
  for (let at = 0; at < input.length; at += PIECE) out += p.pushJson(input.subarray(at, at + PIECE)).length;
  out += p.flushJson().length;
  p.dispose();
  return out;
};

const wasmObjectsRun: Run = (input, s) => {
  const p = factory.create({ secrets: s });
  let out = 0;
  for (let at = 0; at < input.length; at += PIECE) out += p.push(input.subarray(at, at + PIECE)).length;
  out += p.flush().length;
  p.dispose();
  return out;
};

const jsRun: Run = (input, s) => {
  const p: LogPipeline = createReferencePipeline({ secrets: s });
  let out = 0;
  for (let at = 0; at < input.length; at += PIECE)
    out += JSON.stringify(p.push(input.subarray(at, at + PIECE))).length;
  out += JSON.stringify(p.flush()).length;
  p.dispose();
  return out;
};

/**
 * One run's cost in ms of this process's CPU time (user + system, all threads, so GC and JIT
 * helpers count): on a shared machine wall time measures the neighbours as much as the code.
 */
function time(run: Run, input: Uint8Array, s: string[]): number {
  const before = process.cpuUsage();
  run(input, s);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

const size = MB * 1e6;
const one = secrets(100);
const typical = logWithSecret(size, one[0]);
const workloads: [string, Uint8Array, string[]][] = [
  ["typical coloured test log, 1 secret", typical, one.slice(0, 1)],
  ["typical coloured test log, 100 secrets", typical, one],
  ["typical coloured test log, no secrets", typicalLog(size), []],
  ["progress-bar-heavy install log, 1 secret", progressLog(size), one.slice(0, 1)],
  ["10 MB single line, 1 secret", singleLine(10e6), one.slice(0, 1)],
];
const corpus = corpusLogs(size);
if (corpus) workloads.push(["real CI logs (shared corpus, looped), 1 secret", corpus, one.slice(0, 1)]);

// Rounds interleave every workload and implementation and keep each one's best time, so a
// burst of load from other processes on a shared machine does not pick the winner.
const roundsArg = args.indexOf("--rounds");
const ROUNDS = roundsArg >= 0 ? Number(args[roundsArg + 1]) : 5;
const ratios: number[][] = workloads.map(() => []);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const best = workloads.map(() => ({
  wasm: Infinity,
  wasmObjects: Infinity,
  js: Infinity,
  against: Infinity,
}));
for (const [, input, s] of workloads)
  for (const run of [wasmRun, wasmObjectsRun, jsRun, ...(against ? [againstRun] : [])])
    run(input.subarray(0, 1 << 20), s);
for (let round = 0; round < ROUNDS; round++) {
  workloads.forEach(([, input, s], i) => {
    // Back to back, so each round's ratio sees the same neighbours; the median of them is the
    // figure. The order alternates: the second of two runs comes out a few per cent quicker.
    const thenFirst = against && round % 2 === 1;
    const then = thenFirst ? time(againstRun, input, s) : 0;
    const now = time(wasmRun, input, s);
    best[i].wasm = Math.min(best[i].wasm, now);
    if (against) {
      const later = thenFirst ? then : time(againstRun, input, s);
      best[i].against = Math.min(best[i].against, later);
      ratios[i].push(now / later);
    }
    best[i].wasmObjects = Math.min(best[i].wasmObjects, time(wasmObjectsRun, input, s));
    // The reference is slow and steady: three rounds are plenty.
    if (round < 3) best[i].js = Math.min(best[i].js, time(jsRun, input, s));
  });
}
const mbs = (input: Uint8Array, ms: number) => input.length / 1e6 / (ms / 1000);
const rows = workloads.map(([name, input], i) => ({
  workload: name,
  wasm: mbs(input, best[i].wasm),
  wasmObjects: mbs(input, best[i].wasmObjects),
  js: mbs(input, best[i].js),
  against: mbs(input, best[i].against),
}));

/** Memory flatness: 1 GB through one instance; linear memory after warm-up vs at the end. */
function memoryFlat(totalBytes: number): { warm: number; end: number } {
  const p = factory.create({ secrets: one.slice(0, 1) }) as WasmPipeline;
  const mem = (p as unknown as { ex: { memory: WebAssembly.Memory } }).ex.memory;
  let warm = 0;
  for (let done = 0, i = 0; done < totalBytes; done += typical.length, i++) {
    for (let at = 0; at < typical.length; at += PIECE) p.pushJson(typical.subarray(at, at + PIECE));
    if (i === 0) warm = mem.buffer.byteLength;
  }
  p.flushJson();
  const end = mem.buffer.byteLength;
  p.dispose();
  return { warm, end };
}
const memory = memoryFlat(1e9);

const fmt = (n: number) => n.toFixed(0).padStart(8);
console.log(
  `${"workload".padEnd(44)} ${"wasm MB/s".padStart(10)} ${"wasm→obj".padStart(10)} ${"ts MB/s".padStart(10)} ${"ratio".padStart(7)}`,
);
for (const r of rows) {
  console.log(
    `${r.workload.padEnd(44)} ${fmt(r.wasm)}   ${fmt(r.wasmObjects)}   ${fmt(r.js)}   ${(r.wasm / r.js).toFixed(2).padStart(6)}×`,
  );
}
if (against) {
  console.log(
    `\nwasm against the module at ${against.ref} (same run, back to back): time now / then, > 1 is slower`,
  );
  console.log(
    `${"".padEnd(44)} ${"then MB/s".padStart(10)} ${"best/best".padStart(10)} ${"median".padStart(8)}`,
  );
  rows.forEach((r, i) => {
    const ratio = (r.against / r.wasm).toFixed(3);
    console.log(
      `${r.workload.padEnd(44)} ${fmt(r.against)}   ${ratio.padStart(9)}× ${median(ratios[i]).toFixed(3)}×`,
    );
  });
}
const head = rows[0];
const secretsCost = rows[0].wasm / rows[1].wasm;
console.log(
  `100 secrets cost ${secretsCost.toFixed(2)}× the time of 1 (wasm), ${(rows[0].js / rows[1].js).toFixed(2)}× (ts)`,
);
console.log(
  `linear memory over 1 GB: ${(memory.warm / 2 ** 20).toFixed(1)} MiB after warm-up, ${(memory.end / 2 ** 20).toFixed(1)} MiB at the end`,
);
if (json) {
  console.log(
    JSON.stringify({
      wasm_mb_s: Math.round(head.wasm),
      js_mb_s: Math.round(head.js),
      ratio: Number((head.wasm / head.js).toFixed(2)),
      wasm_objects_mb_s: Math.round(head.wasmObjects),
      secrets_100_vs_1: Number(secretsCost.toFixed(2)),
      memory_warm_bytes: memory.warm,
      memory_end_bytes: memory.end,
      against: against
        ? {
            ref: against.ref,
            best_ratios: rows.map((r) => Number((r.against / r.wasm).toFixed(3))),
            median_ratios: ratios.map((r) => Number(median(r).toFixed(3))),
          }
        : undefined,
      machine: { cpus: cpus().length, model: cpus()[0]?.model, runtime: `bun ${Bun.version}` },
      workloads: rows.map((r) => ({
        ...r,
        wasm: Math.round(r.wasm),
        wasmObjects: Math.round(r.wasmObjects),
        js: Math.round(r.js),
      })),
    }),
  );
}
