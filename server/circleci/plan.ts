// Which workflows and jobs a pipeline runs: branch/tag filters as CircleCI applies them (a job with
// no tag filter never runs for a tag; `/regex/` must match the whole name), dependents of a job that
// does not run do not run either, and jobs come out in `requires` order.
import { runs } from "./filters.ts";
import type { ProcessedConfig, ProcessedStep, WorkflowJob } from "./model.ts";
import type { ConfigError, JobSpec, PipelineValues, Step, WorkflowPlan } from "./types.ts";

/** The config cannot be planned with these values (e.g. a pipeline parameter of the wrong type). */
export class PipelinePlanError extends Error {
  readonly code = "config_invalid";
  readonly status = 422;
  constructor(readonly errors: ConfigError[]) {
    super(errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`).join("\n"));
  }
}

/** `config` must already be expanded with `values` (see `planPipeline` in index.ts). */
export function planWorkflows(config: ProcessedConfig, values: PipelineValues): WorkflowPlan[] {
  const plans: WorkflowPlan[] = [];
  for (const wf of config.workflows) {
    // A config schedule runs its own workflows only; a push or trigger never runs scheduled ones.
    if (
      values.scheduledWorkflows ? !values.scheduledWorkflows.includes(wf.name) || !wf.scheduled : wf.scheduled
    )
      continue;
    const selected = new Map<string, WorkflowJob>();
    for (const j of wf.jobs) if (runs(j.filters, values)) selected.set(j.name, j);
    // A job whose requirement does not run cannot run either (CircleCI: tag filters must be on the whole chain).
    let changed = true;
    while (changed) {
      changed = false;
      for (const j of selected.values()) {
        if (j.requires.some((r) => !selected.has(r))) {
          selected.delete(j.name);
          changed = true;
        }
      }
    }
    if (selected.size === 0) continue;
    plans.push({
      name: wf.name,
      jobs: inRequiresOrder([...selected.values()]).map((j) => jobSpec(config, j)),
    });
  }
  return plans;
}

/** Stable topological order: a job comes after everything it requires, otherwise as written. */
function inRequiresOrder(jobs: WorkflowJob[]): WorkflowJob[] {
  const out: WorkflowJob[] = [];
  const placed = new Set<string>();
  const rest = [...jobs];
  while (rest.length > 0) {
    const i = rest.findIndex((j) => j.requires.every((r) => placed.has(r)));
    if (i < 0) throw new Error("requires cycle survived validation"); // validated in parseConfig
    const [j] = rest.splice(i, 1);
    out.push(j);
    placed.add(j.name);
  }
  return out;
}

function jobSpec(config: ProcessedConfig, j: WorkflowJob): JobSpec {
  const common = {
    name: j.name,
    job: j.job,
    requires: j.requires,
    ...(j.requiresStatus ? { requiresStatus: j.requiresStatus } : {}),
    contexts: j.contexts,
  };
  if (j.type === "approval") {
    return {
      ...common,
      type: "approval",
      executor: { kind: "none" },
      steps: [],
      environment: {},
      workingDirectory: "",
      parallelism: 1,
    };
  }
  const job = config.jobs[j.job];
  return {
    ...common,
    job: job.job,
    type: job.noop ? "no-op" : "build",
    executor: job.executor,
    steps: flatSteps(job.steps),
    environment: job.environment,
    workingDirectory: job.workingDirectory,
    parallelism: job.parallelism,
    ...(job.resourceClass !== undefined ? { resourceClass: job.resourceClass } : {}),
    ...(job.cannotRun ? { cannotRun: job.cannotRun } : {}),
    ...(config.setup ? { setup: true } : {}),
  };
}

function flatSteps(steps: ProcessedStep[]): Step[] {
  const isStep = (s: ProcessedStep): s is Step => s.type !== "when" && s.type !== "unless";
  if (!steps.every(isStep)) throw new Error("a conditional step survived expansion with pipeline values");
  return steps;
}
