// The log pipeline's public entry point: the server imports only this file and types.ts.
import { createReferencePipeline } from "./reference/pipeline.ts";
import type { LogPipeline, LogPipelineOptions } from "./types.ts";

export { isMaskable } from "./derive.ts";
export { MASK } from "./limits.ts";
export { createReferencePipeline } from "./reference/pipeline.ts";
export { renderHtml, renderText } from "./render.ts";
export type * from "./types.ts";

export interface LogPipelineFactory {
  create(opts?: LogPipelineOptions): LogPipeline;
}

/** The production pipeline factory: compile once, then one cheap instance per job. */
export async function loadLogPipeline(): Promise<LogPipelineFactory> {
  return { create: (opts) => createReferencePipeline(opts) };
}
