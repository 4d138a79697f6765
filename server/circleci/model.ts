// The processed config: what `parseConfig` hands back and `renderProcessed` prints. Jobs are expanded
// (commands inlined, executors and parameters resolved); workflows list concrete job instances.
import type { Work } from "./budget.ts";
import type { Diagnostics } from "./diagnostics.ts";
import type { OrbTexts } from "./orbs.ts";
import type { ParamSpecs } from "./params.ts";
import type { Resolved } from "./template.ts";
import type { Pos, YMap, YNode } from "./tree.ts";
import type { ConfigError, Executor, RequiredStatus, Step } from "./types.ts";

/** A `when`/`unless` step whose condition needs pipeline values (kept until `planPipeline`). */
export interface ConditionalStep {
  type: "when" | "unless";
  condition: unknown;
  steps: ProcessedStep[];
}
export type ProcessedStep = Step | ConditionalStep;

export interface ProcessedJob {
  /** The job definition it was expanded from. */
  job: string;
  executor: Executor;
  steps: ProcessedStep[];
  environment: Record<string, string>;
  workingDirectory: string;
  parallelism: number;
  resourceClass?: string;
  /** `type: no-op`: no executor and no steps; it succeeds once its requirements are met. */
  noop?: true;
  /** Why Cairn cannot run this job (macOS, Windows, setup_remote_docker): it ends not_run. */
  cannotRun?: string;
}

export interface PatternFilter {
  only?: string[];
  ignore?: string[];
}
export interface Filters {
  branches?: PatternFilter;
  tags?: PatternFilter;
}

export interface WorkflowJob {
  /** Name in the workflow (after matrix expansion and `name:`). */
  name: string;
  /** Key in `ProcessedConfig.jobs`; for approvals, the name as written. */
  job: string;
  type: "build" | "approval" | "no-op";
  requires: string[];
  /** Required jobs that may end in other statuses than success (`requires: [{build: [success, failed]}]`). */
  requiresStatus?: Record<string, RequiredStatus[]>;
  contexts: string[];
  filters?: Filters;
  pos: Pos;
}

export interface WorkflowSchedule {
  cron: string;
  branches: PatternFilter;
  pos: Pos;
}

export interface ProcessedWorkflow {
  name: string;
  jobs: WorkflowJob[];
  /** Workflow `when`/`unless` still depending on pipeline values, as plain data. */
  when?: unknown;
  unless?: unknown;
  /** Has `triggers: schedule`: runs on a schedule, never for a push. */
  scheduled: boolean;
  /** Its `triggers: - schedule:` entries. */
  schedules?: WorkflowSchedule[];
  pos: Pos;
}

export interface ProcessedConfig {
  file: string;
  version: "2" | "2.1";
  pipelineParameters: Record<string, { type: string; default: unknown; enum?: string[] }>;
  jobs: Record<string, ProcessedJob>;
  workflows: ProcessedWorkflow[];
  warnings: ConfigError[];
  /** The parsed source, re-expanded by `planPipeline` with the pipeline's real values. */
  source: YNode;
  /** Published orbs by alias, as resolved (`circleci/node@5.0.0`): recorded on the pipeline. */
  orbs: Record<string, string>;
  /** Their YAML, kept for re-expansion by `planPipeline`. */
  orbTexts?: OrbTexts;
  /** `setup: true`: its jobs get a continuation key and may continue the pipeline with another config. */
  setup?: boolean;
  /** Parsed as a continuation (`POST /api/v2/pipeline/continue`): `setup: true` is refused. */
  continuation?: boolean;
}

export interface Definition {
  name: string;
  node: YMap;
  specs: ParamSpecs;
  pos: Pos;
  /** The alias of the orb it comes from (its name is then `alias/name`). */
  orb?: string;
}

/** Everything expansion needs: definitions by name, declared orbs, pipeline values, the error sink. */
export interface Ctx {
  diag: Diagnostics;
  v21: boolean;
  commands: Map<string, Definition>;
  executors: Map<string, Definition>;
  jobs: Map<string, Definition>;
  /** Declared orbs: alias → reference as written (or "an inline orb"). */
  orbs: Map<string, string>;
  /** Orbs whose definitions were registered. */
  loadedOrbs: Set<string>;
  /** Orbs something used a definition of (the others get a warning). */
  usedOrbs: Set<string>;
  /** While expanding a job: why it cannot run here (steps like setup_remote_docker add to it). */
  blockers?: string[];
  /** While expanding an orb's definition: its alias, so its own bare names resolve first. */
  orbScope?: string;
  /** `command:x` and `executor:y` once expanded for a job, so they are not checked again on their own. */
  used: Set<string>;
  /** Steps expanded so far in this config, against MAX_STEPS. */
  steps: { count: number; reported: boolean };
  work: Work;
  pipeline: (path: string) => Resolved;
}

/** Keys of a workflow job entry; any other key is an argument to the job's parameters. */
export const ENTRY_KEYS = [
  "requires",
  "filters",
  "context",
  "type",
  "name",
  "matrix",
  "pre-steps",
  "post-steps",
  "serial-group",
];

/** The message for anything used from an orb (`node/install`), or undefined if `ref` is not an orb reference. */
export function orbUse(ctx: Ctx, kind: string, ref: string): string | undefined {
  const slash = ref.indexOf("/");
  if (slash <= 0) return undefined;
  const orb = ref.slice(0, slash);
  const declared = ctx.orbs.get(orb);
  if (declared === undefined)
    return `${kind} \`${ref}\` names orb \`${orb}\`, which is not declared under \`orbs:\``;
  if (!ctx.loadedOrbs.has(orb))
    return `${kind} \`${ref}\` comes from orb \`${orb}\` (${declared}), which could not be loaded (see its declaration)`;
  return `${kind} \`${ref}\`: orb \`${orb}\` (${declared}) has no ${kind} \`${ref.slice(slash + 1)}\``;
}
