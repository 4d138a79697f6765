// Creating a pipeline: resolve the ref, read the config at that commit, plan its workflows, and
// write pipeline, workflow and job rows in one transaction (all or nothing).
import { eq, sql } from "drizzle-orm";
import { declaredOrbRefs, parseConfig, planPipeline } from "../circleci/index.ts";
import type { ConfigError, JobSpec, PipelineValues, WorkflowPlan } from "../circleci/types.ts";
import type { Db } from "../db/client.ts";
import { jobs, pipelines, projects, workflows } from "../db/schema.ts";
import { Unprocessable } from "../errors.ts";
import { FileTooLarge, type SourcePort } from "../source/git-mirror.ts";
import { newId } from "./ids.ts";
import { resolveOrbs } from "./orbs.ts";
import { syncConfigSchedules } from "./schedules.ts";
import type { TemplateTable } from "./templates.ts";

/** `.cairn/config.yml` wins over `.circleci/config.yml`. */
export const CONFIG_PATHS = [".cairn/config.yml", ".circleci/config.yml"];

/** A config larger than this is refused (`config_too_large`) before it is read. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export type { TemplateTable } from "./templates.ts";

/** A transaction of `Db`. */
type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export interface TriggerInput {
  branch?: string;
  sha?: string;
  tag?: string;
  parameters?: Record<string, string | number | boolean>;
  trigger?: string;
  /** Stored with the pipeline as JSON (webhook delivery, pull request, schedule). */
  metadata?: Record<string, unknown>;
  /** Pipeline values a schedule sets (see schedule-runner.ts). */
  triggerSource?: PipelineValues["triggerSource"];
  schedule?: PipelineValues["schedule"];
  scheduledWorkflows?: PipelineValues["scheduledWorkflows"];
}

export async function createPipeline(
  deps: { db: Db; source: SourcePort; templates: TemplateTable },
  project: typeof projects.$inferSelect,
  input: TriggerInput,
) {
  // A sha wins; a tag alone resolves the tag; otherwise the branch (default: the project's).
  const ref: { sha?: string; tag?: string; branch?: string } = input.sha
    ? { sha: input.sha }
    : input.tag && !input.branch
      ? { tag: input.tag }
      : { branch: input.branch ?? project.defaultBranch };
  let sha: string | null;
  try {
    sha = await deps.source.resolve(project, ref);
  } catch (e) {
    throw new Unprocessable("repository_unavailable", (e as Error).message, { repo_url: project.repoUrl });
  }
  if (!sha) {
    const what = ref.sha ? `commit ${ref.sha}` : ref.tag ? `tag ${ref.tag}` : `branch ${ref.branch}`;
    throw new Unprocessable("ref_not_found", `${what} does not exist in ${project.repoUrl}`, ref);
  }

  let configPath: string | undefined;
  let text: string | null = null;
  for (const path of CONFIG_PATHS) {
    try {
      text = await deps.source.readFile(project, sha, path, MAX_CONFIG_BYTES);
    } catch (e) {
      if (!(e instanceof FileTooLarge)) throw e;
      throw new Unprocessable(
        "config_too_large",
        `${path} at commit ${sha.slice(0, 12)} is ${e.size} bytes: a config may be at most ${MAX_CONFIG_BYTES}`,
        { sha, path, size: e.size, max_bytes: MAX_CONFIG_BYTES },
      );
    }
    if (text !== null) {
      configPath = path;
      break;
    }
  }
  if (text === null || !configPath) {
    throw new Unprocessable(
      "config_missing",
      `no ${CONFIG_PATHS.join(" or ")} at commit ${sha.slice(0, 12)}`,
      {
        sha,
        paths: CONFIG_PATHS,
      },
    );
  }

  // Published orbs are resolved now, at trigger time, and their versions recorded on the pipeline.
  const refs = declaredOrbRefs(text);
  const orbs = refs.length > 0 ? await resolveOrbs(deps.db, refs) : undefined;
  const parsed = parseConfig(text, configPath, orbs ? { orbs } : {});
  if (!parsed.config || parsed.errors.length > 0) {
    // Kept as a pipeline in state `error` listing every problem, so a bad push leaves a trace.
    const pipeline = await createErrorPipeline(deps.db, project, input, {
      sha,
      branch: ref.branch ?? input.branch ?? null,
      configPath,
      errors: parsed.errors,
    });
    throw invalidConfig(parsed.errors, pipeline);
  }
  const resolvedOrbs = parsed.config.orbs;
  // A webhook names the branch its sha was pushed to.
  const branch = ref.branch ?? input.branch ?? null;
  if (branch && !input.tag)
    await syncConfigSchedules(deps.db, project.id, branch, parsed.config.workflows, Date.now());
  const plans = planPipeline(parsed.config, {
    branch: branch ?? undefined,
    tag: input.tag,
    revision: sha,
    parameters: input.parameters ?? {},
    repoUrl: project.repoUrl,
    triggerSource: input.triggerSource,
    schedule: input.schedule,
    scheduledWorkflows: input.scheduledWorkflows,
  });
  if (plans.length === 0 || plans.every((w) => w.jobs.length === 0)) {
    throw new Unprocessable(
      "no_jobs",
      `no workflow in ${configPath} runs for ${branch ? `branch ${branch}` : sha}`,
    );
  }

  return deps.db.transaction(async (tx) => {
    const [{ number }] = await tx
      .update(projects)
      .set({ nextPipelineNumber: sql`${projects.nextPipelineNumber} + 1` })
      .where(eq(projects.id, project.id))
      .returning({ number: sql<number>`${projects.nextPipelineNumber} - 1` });
    const pipelineId = newId();
    await tx.insert(pipelines).values({
      id: pipelineId,
      projectId: project.id,
      number,
      branch,
      tag: input.tag ?? null,
      sha,
      trigger: input.trigger ?? "api",
      metadata: input.metadata ? JSON.stringify(input.metadata) : null,
      configPath,
      ...(Object.keys(resolvedOrbs).length > 0 ? { orbs: JSON.stringify(resolvedOrbs) } : {}),
    });
    const { workflows: createdWorkflows, jobs: created } = await insertWorkflows(
      tx,
      { projectId: project.id, pipelineId, templates: deps.templates },
      plans,
    );
    if (created.every((j) => j.status === "canceled"))
      await tx
        .update(pipelines)
        .set({ status: "canceled", finishedAt: Date.now() })
        .where(eq(pipelines.id, pipelineId));
    return { id: pipelineId, number, sha, branch, workflows: createdWorkflows, jobs: created };
  });
}

/** A pipeline's planned workflows and their jobs (one row per slice), written inside `tx`. */
export async function insertWorkflows(
  tx: Tx,
  at: { projectId: string; pipelineId: string; templates: TemplateTable },
  plans: readonly WorkflowPlan[],
) {
  const created: {
    id: string;
    name: string;
    status: "queued" | "canceled";
    workflow: string;
    slice?: number;
  }[] = [];
  const createdWorkflows: { id: string; name: string }[] = [];
  for (const wf of plans) {
    const workflowId = newId();
    createdWorkflows.push({ id: workflowId, name: wf.name });
    const notRun = notRunReasons(wf.jobs);
    const settled = wf.jobs.every((j) => notRun.has(j.name));
    await tx.insert(workflows).values({
      id: workflowId,
      pipelineId: at.pipelineId,
      name: wf.name,
      ...(settled ? { status: "canceled" as const } : {}),
    });
    for (const spec of wf.jobs) {
      const reason = notRun.get(spec.name);
      // `parallelism: N` → N slices, each its own row and container.
      const total = Math.max(1, spec.parallelism || 1);
      for (let slice = 0; slice < total; slice++) {
        const id = newId();
        await tx.insert(jobs).values({
          id,
          pipelineId: at.pipelineId,
          workflowId,
          projectId: at.projectId,
          name: spec.name,
          spec: JSON.stringify(spec),
          requires: JSON.stringify(spec.requires),
          template: at.templates.templateFor(spec.executor),
          sliceIndex: slice,
          sliceTotal: total,
          ...(reason
            ? { status: "not_run" as const, failureReason: `not run: ${reason}`, finishedAt: Date.now() }
            : {}),
        });
        created.push({
          id,
          name: spec.name,
          status: reason ? "canceled" : "queued",
          workflow: wf.name,
          ...(total > 1 ? { slice } : {}),
        });
      }
    }
  }
  return { workflows: createdWorkflows, jobs: created };
}

/** The error a trigger answers; `pipeline` is the `error` pipeline that records it, when one was made. */
function invalidConfig(errors: ConfigError[], pipeline?: ErrorPipeline): Unprocessable {
  const lines = errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`);
  return new Unprocessable(
    "config_invalid",
    lines.length === 1 ? lines[0] : `${lines.length} problems in the config:\n${lines.join("\n")}`,
    { errors, ...(pipeline ? { pipeline } : {}) },
  );
}

export interface ErrorPipeline {
  id: string;
  number: number;
  sha: string;
  branch: string | null;
  status: "error";
  errors: ConfigError[];
  workflows: [];
  jobs: [];
}

/** A pipeline whose config cannot run: state `error`, every problem kept, no workflows. */
async function createErrorPipeline(
  db: Db,
  project: typeof projects.$inferSelect,
  input: TriggerInput,
  at: { sha: string; branch: string | null; configPath: string; errors: ConfigError[] },
): Promise<ErrorPipeline> {
  return db.transaction(async (tx) => {
    const [{ number }] = await tx
      .update(projects)
      .set({ nextPipelineNumber: sql`${projects.nextPipelineNumber} + 1` })
      .where(eq(projects.id, project.id))
      .returning({ number: sql<number>`${projects.nextPipelineNumber} - 1` });
    const id = newId();
    await tx.insert(pipelines).values({
      id,
      projectId: project.id,
      number,
      branch: at.branch,
      tag: input.tag ?? null,
      sha: at.sha,
      trigger: input.trigger ?? "api",
      metadata: input.metadata ? JSON.stringify(input.metadata) : null,
      configPath: at.configPath,
      status: "error",
      configErrors: JSON.stringify(at.errors),
      finishedAt: Date.now(),
    });
    return {
      id,
      number,
      sha: at.sha,
      branch: at.branch,
      status: "error",
      errors: at.errors,
      workflows: [],
      jobs: [],
    };
  });
}

/**
 * Jobs Cairn cannot run here (a macOS or Windows executor, setup_remote_docker) and the jobs that
 * require them without accepting `not_run`: created already ended, `not run: <reason>`.
 */
function notRunReasons(specs: readonly JobSpec[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const spec of specs) {
    // Specs come in requires order, so a requirement is decided before its dependents.
    if (spec.cannotRun) out.set(spec.name, spec.cannotRun);
    else {
      const blocked = spec.requires.find(
        (r) => out.has(r) && !(spec.requiresStatus?.[r] ?? ["success"]).includes("not_run"),
      );
      if (blocked) out.set(spec.name, `required job ${blocked} did not run`);
    }
  }
  return out;
}
