// The processed config as YAML, shaped like `circleci config process` output: jobs fully expanded,
// workflows with concrete job names. Key order is fixed, so the output is stable for snapshots.
import { stringify } from "yaml";
import type { Filters, ProcessedConfig, ProcessedJob, ProcessedStep, WorkflowJob } from "./model.ts";
import type { Executor } from "./types.ts";

export function renderProcessed(config: ProcessedConfig): string {
  const doc: Record<string, unknown> = { version: config.version === "2.1" ? 2.1 : 2 };
  if (Object.keys(config.pipelineParameters).length > 0) doc.parameters = config.pipelineParameters;
  const jobs: Record<string, unknown> = {};
  for (const [name, job] of Object.entries(config.jobs)) jobs[name] = renderJob(job);
  doc.jobs = jobs;
  const workflows: Record<string, unknown> = {};
  for (const wf of config.workflows) {
    workflows[wf.name] = {
      ...(wf.schedules
        ? {
            triggers: wf.schedules.map((t) => ({
              schedule: { cron: t.cron, filters: { branches: t.branches } },
            })),
          }
        : {}),
      ...(wf.when !== undefined ? { when: wf.when } : {}),
      ...(wf.unless !== undefined ? { unless: wf.unless } : {}),
      jobs: wf.jobs.map(renderWorkflowJob),
    };
  }
  doc.workflows = workflows;
  return stringify(doc, { lineWidth: 0, blockQuote: "literal", aliasDuplicateObjects: false });
}

function renderJob(job: ProcessedJob): Record<string, unknown> {
  if (job.noop) return { type: "no-op" };
  return {
    ...renderExecutor(job.executor),
    ...(job.resourceClass !== undefined ? { resource_class: job.resourceClass } : {}),
    working_directory: job.workingDirectory,
    ...(job.parallelism !== 1 ? { parallelism: job.parallelism } : {}),
    ...(Object.keys(job.environment).length > 0 ? { environment: job.environment } : {}),
    steps: job.steps.map(renderStep),
  };
}

function renderExecutor(e: Executor): Record<string, unknown> {
  const shell = e.shell ? { shell: e.shell } : {};
  switch (e.kind) {
    case "docker":
      return { docker: [{ image: e.image }, ...(e.services ?? [])], ...shell };
    case "machine":
    case "windows":
      return { machine: e.image ? { image: e.image } : true, ...shell };
    case "macos":
      return { macos: { xcode: e.image?.replace(/^xcode:/, "") ?? null }, ...shell };
    case "none":
      return shell;
  }
}

function renderStep(s: ProcessedStep): unknown {
  const w = s.type !== "run" && s.type !== "save_cache" && "when" in s && s.when ? { when: s.when } : {};
  switch (s.type) {
    case "checkout":
      return s.path || s.method || s.when
        ? {
            checkout: {
              ...(s.path ? { path: s.path } : {}),
              ...(s.method ? { method: s.method } : {}),
              ...w,
            },
          }
        : "checkout";
    case "run":
      return {
        run: {
          name: s.name,
          command: s.command,
          ...(s.shell ? { shell: s.shell } : {}),
          ...(Object.keys(s.environment).length > 0 ? { environment: s.environment } : {}),
          ...(s.background ? { background: true } : {}),
          ...(s.workingDirectory ? { working_directory: s.workingDirectory } : {}),
          ...(s.noOutputTimeout !== undefined ? { no_output_timeout: duration(s.noOutputTimeout) } : {}),
          ...(s.when !== "on_success" ? { when: s.when } : {}),
        },
      };
    case "save_cache":
      return {
        save_cache: {
          ...(s.name ? { name: s.name } : {}),
          key: s.key,
          paths: s.paths,
          ...(s.when !== "on_success" ? { when: s.when } : {}),
        },
      };
    case "restore_cache":
      return { restore_cache: { ...(s.name ? { name: s.name } : {}), keys: s.keys, ...w } };
    case "store_artifacts":
      return {
        store_artifacts: { path: s.path, ...(s.destination ? { destination: s.destination } : {}), ...w },
      };
    case "store_test_results":
      return { store_test_results: { path: s.path, ...w } };
    case "persist_to_workspace":
      return { persist_to_workspace: { root: s.root, paths: s.paths, ...w } };
    case "attach_workspace":
      return { attach_workspace: { at: s.at, ...w } };
    case "add_ssh_keys":
      return { add_ssh_keys: { fingerprints: s.fingerprints, ...w } };
    case "when":
    case "unless":
      return { [s.type]: { condition: s.condition, steps: s.steps.map(renderStep) } };
  }
}

function renderWorkflowJob(j: WorkflowJob): unknown {
  const body: Record<string, unknown> = {
    ...(j.name !== j.job ? { name: j.name } : {}),
    ...(j.type === "approval" ? { type: "approval" } : {}),
    ...(j.requires.length > 0
      ? {
          requires: j.requires.map((r) => (j.requiresStatus?.[r] ? { [r]: j.requiresStatus[r] } : r)),
        }
      : {}),
    ...(j.contexts.length > 0 ? { context: j.contexts } : {}),
    ...(j.filters ? { filters: renderFilters(j.filters) } : {}),
  };
  return Object.keys(body).length === 0 ? j.job : { [j.job]: body };
}

function renderFilters(f: Filters): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ["branches", "tags"] as const) if (f[k]) out[k] = { ...f[k] };
  return out;
}

function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
