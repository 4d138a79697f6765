// Builds wasm/build/log-pipeline.wasm from wasm/assembly/ with the AssemblyScript compiler,
// only when the output is missing or older than a source. Plain Node ESM: run by
// scripts/ensure-install.mjs before `npm start`/`npm test`, and by loadLogPipeline on demand.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const sources = join(here, "assembly");
export const wasmPath = join(here, "build", "log-pipeline.wasm");

function newestSource() {
  let newest = statSync(fileURLToPath(import.meta.url)).mtimeMs;
  for (const name of readdirSync(sources)) {
    if (name.endsWith(".ts")) newest = Math.max(newest, statSync(join(sources, name)).mtimeMs);
  }
  return newest;
}

function isFresh() {
  try {
    return statSync(wasmPath).mtimeMs >= newestSource();
  } catch {
    return false;
  }
}

/**
 * One more pass of Binaryen's optimizer at level 4 (asc stops at 3; -O4 flattens the code before
 * optimizing it): 0–9 % less time depending on the log, the real corpus most (docs/perf-history.md).
 * Binaryen's own wasm-opt, the one asc depends on: the same passes through its JS API gave a slower module.
 */
function optimizeFurther(file) {
  const wasmOpt = join(
    dirname(createRequire(import.meta.url).resolve("binaryen/package.json")),
    "bin",
    "wasm-opt",
  );
  execFileSync(process.execPath, [
    wasmOpt,
    "-O4",
    "--enable-simd",
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    file,
    "-o",
    file,
  ]);
}

/** Compiles when stale; returns the .wasm path. */
export async function buildWasm() {
  if (isFresh()) return wasmPath;
  const { main } = await import("assemblyscript/asc");
  mkdirSync(dirname(wasmPath), { recursive: true });
  // Written beside the target and renamed, so concurrent test processes never read half a file.
  const tmp = `${wasmPath}.${process.pid}.tmp`;
  const { error, stderr } = await main([
    join(sources, "index.ts"),
    "--outFile",
    tmp,
    "-O3",
    "--noAssert",
    "--converge",
    "--runtime",
    "minimal",
    // The host hands each instance its memory, so memories can be reused (memory-pool.ts).
    "--importMemory",
    "--enable",
    "simd",
    "--use",
    `abort=${join("wasm", "assembly", "env", "abortTrap")}`,
    "--baseDir",
    join(here, ".."),
  ]);
  if (error) {
    throw new Error(`wasm build failed: ${error.message}\n${stderr.toString()}`);
  }
  optimizeFurther(tmp);
  renameSync(tmp, wasmPath);
  return wasmPath;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const fresh = isFresh();
  const path = await buildWasm();
  if (!fresh) console.error(`cairn: built ${path}`);
}
