// Rows → API JSON (snake_case fields, ISO times). One place, so every route answers alike.
import { iso } from "../services/ids.ts";
import type { Project } from "../services/projects.ts";
import type { JobRow, PipelineRow, PipelineTree, StepRow, WorkflowRow } from "../services/runs.ts";

export const presentProject = (p: Project) => ({
  id: p.id,
  name: p.name,
  repo_url: p.repoUrl,
  default_branch: p.defaultBranch,
  followed: p.followed,
  max_concurrent_jobs: p.maxConcurrentJobs,
  network: p.network,
  created_at: iso(p.createdAt),
});

export const presentJobSummary = (j: JobRow) => ({
  id: j.id,
  name: j.name,
  status: j.status,
  ...approvalOf(j),
  attempt: j.attempt,
  slice: { index: j.sliceIndex, total: j.sliceTotal },
  superseded_by: j.supersededBy,
  workflow_id: j.workflowId,
  requires: JSON.parse(j.requires) as string[],
});

export const presentPipeline = (p: PipelineRow, wfs: WorkflowRow[], js: JobRow[]) => ({
  id: p.id,
  project_id: p.projectId,
  number: p.number,
  branch: p.branch,
  tag: p.tag,
  sha: p.sha,
  status: p.status,
  trigger: p.trigger,
  /** Built from a fork's pull request: its jobs get the project's secrets only if the project passes them. */
  from_fork: p.fromFork,
  /** What triggered it: the webhook delivery, and the pull request for PR builds. */
  metadata: p.metadata ? (JSON.parse(p.metadata) as Record<string, unknown>) : null,
  config_path: p.configPath,
  orbs: p.orbs ? (JSON.parse(p.orbs) as Record<string, string>) : {},
  /** Why an `error` pipeline's config cannot run: every problem, file:line:col. */
  config_errors: p.configErrors ? (JSON.parse(p.configErrors) as unknown[]) : [],
  created_at: iso(p.createdAt),
  finished_at: iso(p.finishedAt),
  workflows: wfs.map((w) => ({ id: w.id, name: w.name, status: w.status })),
  jobs: js.map(presentJobSummary),
});

export const presentPipelineTree = (t: PipelineTree) => presentPipeline(t.pipeline, t.workflows, t.jobs);

export const presentJob = (j: JobRow, ss: StepRow[]) => ({
  id: j.id,
  name: j.name,
  status: j.status,
  ...approvalOf(j),
  project_id: j.projectId,
  pipeline_id: j.pipelineId,
  workflow_id: j.workflowId,
  requires: JSON.parse(j.requires) as string[],
  attempt: j.attempt,
  slice: { index: j.sliceIndex, total: j.sliceTotal },
  /** Set on a lost attempt that was re-queued: the id of its retry. */
  superseded_by: j.supersededBy,
  /** The executor the config asked for, and the LXC template the operator's table chose for it. */
  executor: (JSON.parse(j.spec) as { executor?: { kind: string; image?: string } }).executor ?? null,
  template: j.template,
  /** The image the job ran in, as its builder reported it (null: a template, or not started yet). */
  image: j.imageName ? { name: j.imageName, digest: j.imageDigest ?? "" } : null,
  builder_id: j.builderId,
  /** True when the builder ran it with the process driver: no container isolated it. */
  unsandboxed: j.unsandboxed,
  /** A fork's job, as granted: the project's secrets `withheld`, or `passed` by project setting; null: no fork. */
  fork_secrets: j.forkSecrets,
  failure_reason: j.failureReason,
  log_lines: j.logLines,
  created_at: iso(j.createdAt),
  started_at: iso(j.startedAt),
  finished_at: iso(j.finishedAt),
  steps: ss.map((s) => ({
    index: s.index,
    name: s.name,
    status: s.status,
    exit_code: s.exitCode,
    first_line: s.firstLine,
    started_at: iso(s.startedAt),
    finished_at: iso(s.finishedAt),
  })),
});

/** An approval job waits `queued` with `approval: "pending"` until POST /jobs/:id/approve. */
const approvalOf = (j: JobRow): { approval?: "pending" | "approved" | "canceled" } => {
  if ((JSON.parse(j.spec) as { type?: string }).type !== "approval") return {};
  return { approval: j.status === "queued" ? "pending" : j.status === "success" ? "approved" : "canceled" };
};
