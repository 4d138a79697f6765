// Test helpers shared by the wasm/ suites: run a pipeline over pieces and collect its lines.
import type { LogPipelineFactory } from "./index.ts";
import { createReferencePipeline, loadLogPipeline } from "./index.ts";
import type { LogChunk, LogLine, LogPipeline, LogPipelineOptions } from "./types.ts";

export const enc = new TextEncoder();

export type Make = (opts?: LogPipelineOptions) => LogPipeline;

/** Both implementations, for suites that must hold for each. */
export async function implementations(): Promise<[string, Make][]> {
  const wasm: LogPipelineFactory = await loadLogPipeline();
  return [
    ["reference", createReferencePipeline],
    ["wasm", (o) => wasm.create(o)],
  ];
}

export function bytesOf(input: string | Uint8Array): Uint8Array {
  return typeof input === "string" ? enc.encode(input) : input;
}

/** Feeds `input` split at `cuts` (sorted offsets), then flushes; returns every chunk. */
export function runChunks(
  make: Make,
  input: string | Uint8Array,
  cuts: number[] = [],
  opts?: LogPipelineOptions,
): LogChunk[] {
  const bytes = bytesOf(input);
  const p = make(opts);
  const out: LogChunk[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    const end = Math.max(at, Math.min(c, bytes.length));
    out.push(...p.push(bytes.subarray(at, end)));
    at = end;
  }
  out.push(...p.flush());
  p.dispose();
  return out;
}

export function run(
  make: Make,
  input: string | Uint8Array,
  cuts: number[] = [],
  opts?: LogPipelineOptions,
): LogLine[] {
  return runChunks(make, input, cuts, opts).flatMap((c) => c.lines);
}

export function texts(lines: LogLine[]): string[] {
  return lines.map((l) => l.text);
}
