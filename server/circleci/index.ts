// Cairn's CircleCI-compatible config engine: parse and check a `.circleci/config.yml` (versions 2
// and 2.1) reporting every problem at once as file:line:col, expand 2.1 reuse (commands, executors,
// parameters, matrix, conditions), and plan which workflows and jobs a pipeline runs.
import { Diagnostics } from "./diagnostics.ts";
import { expandConfig } from "./expand.ts";
import type { ProcessedConfig } from "./model.ts";
import type { OrbTexts } from "./orbs.ts";
import { PipelinePlanError, planWorkflows } from "./plan.ts";
import { parseTree } from "./tree.ts";
import type { ConfigError, PipelineValues, WorkflowPlan } from "./types.ts";

export { formatError } from "./diagnostics.ts";
export type {
  ProcessedConfig,
  ProcessedJob,
  ProcessedStep,
  ProcessedWorkflow,
  WorkflowJob,
} from "./model.ts";
export {
  declaredOrbRefs,
  missingOrbMessage,
  type OrbTexts,
  parseOrbRef,
  pickVersion,
  type ResolvedOrb,
} from "./orbs.ts";
export { PipelinePlanError } from "./plan.ts";
export { renderProcessed } from "./render.ts";
export type * from "./types.ts";

export interface ConfigResult {
  /** Present only when there are no errors. */
  config?: ProcessedConfig;
  errors: ConfigError[];
  /** Things that do not stop the config from running but that Cairn ignores (service containers, notify, schedules). */
  warnings: ConfigError[];
}

export interface ParseOptions {
  /** Published orbs the config declares, looked up beforehand by the caller (see `declaredOrbRefs`). */
  orbs?: OrbTexts;
  /** The config continues a setup pipeline: it may not be a setup config itself. */
  continuation?: boolean;
}

/** Parses, checks and expands a config; pipeline values stay as `<< pipeline.* >>` until planning. */
export function parseConfig(text: string, file: string, options: ParseOptions = {}): ConfigResult {
  const diag = new Diagnostics(file);
  const root = parseTree(text, diag);
  const config =
    root && !diag.failed
      ? expandConfig(root, file, diag, undefined, options.orbs, options.continuation)
      : undefined;
  return result(diag, config);
}

/** Expands an already parsed config again with a pipeline's values (what `planPipeline` plans from). */
export function processConfig(config: ProcessedConfig, values: PipelineValues): ConfigResult {
  const diag = new Diagnostics(config.file);
  return result(
    diag,
    expandConfig(config.source, config.file, diag, values, config.orbTexts, config.continuation),
  );
}

/**
 * The workflows and jobs a pipeline with `values` runs, in `requires` order.
 * Throws PipelinePlanError when the values do not fit the config (e.g. an undeclared pipeline parameter).
 */
export function planPipeline(config: ProcessedConfig, values: PipelineValues): WorkflowPlan[] {
  const processed = processConfig(config, values);
  if (!processed.config) throw new PipelinePlanError(processed.errors);
  return planWorkflows(processed.config, values);
}

function result(diag: Diagnostics, config: ProcessedConfig | undefined): ConfigResult {
  const errors = diag.sorted(diag.errors);
  const warnings = diag.sorted(diag.warnings);
  if (errors.length > 0 || !config) return { errors, warnings };
  return { config: { ...config, warnings }, errors, warnings };
}
