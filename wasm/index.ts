// The log pipeline's public entry point: the server imports only this file and types.ts.
import { readFile } from "node:fs/promises";
import { importedMemoryPages, MemoryPool } from "./memory-pool.ts";
import type { LogPipeline, LogPipelineOptions } from "./types.ts";
import { WasmPipeline } from "./wasm-pipeline.ts";

export { isMaskable } from "./derive.ts";
export { MASK } from "./limits.ts";
export { createReferencePipeline } from "./reference/pipeline.ts";
export { renderHtml, renderText } from "./render.ts";
export type * from "./types.ts";
export { WasmPipeline } from "./wasm-pipeline.ts";

export interface LogPipelineFactory {
  create(opts?: LogPipelineOptions): LogPipeline;
}

let compiled: Promise<{ module: WebAssembly.Module; memories: MemoryPool }> | undefined;
let embeddedWasm: string | undefined;

/** The compiled binary's entry point hands over the .wasm file embedded in it (scripts/build.ts). */
export function useEmbeddedWasm(path: string): void {
  embeddedWasm = path;
}

async function compile(): Promise<{ module: WebAssembly.Module; memories: MemoryPool }> {
  let bytes: Uint8Array;
  if (embeddedWasm) bytes = await readFile(embeddedWasm);
  else {
    // Builds from source when wasm/build is missing or stale (e.g. `bun test` without `npm test`).
    // @ts-expect-error plain ESM build script without type declarations
    const { buildWasm } = await import("./build.mjs");
    const path: string = await buildWasm();
    bytes = await readFile(path);
  }
  const pages = importedMemoryPages(bytes);
  if (pages === null)
    throw new Error("the log pipeline module imports no memory (wasm/build.mjs --importMemory)");
  return { module: await WebAssembly.compile(bytes), memories: new MemoryPool(pages) };
}

/**
 * The production pipeline factory: the module is compiled once, then one instance per job
 * (its own linear memory while it runs, from and back to a pool of zeroed ones: memory-pool.ts).
 * Its pipelines also have pushJson/flushJson, which hand out the chunks' JSON bytes without
 * building objects, and pushLive, which adds the lines rendered as Server-Sent Events: the cheap
 * way to persist and fan out (chunk-json.ts, docs/perf.md).
 */
export async function loadLogPipeline(): Promise<LogPipelineFactory> {
  // A failed build is not cached: the next call tries again.
  compiled ??= compile().catch((e) => {
    compiled = undefined;
    throw e;
  });
  const { module, memories } = await compiled;
  return { create: (opts) => new WasmPipeline(module, opts ?? {}, memories) };
}
