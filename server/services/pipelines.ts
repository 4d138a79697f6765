// Creating a pipeline: resolve the ref, read the config at that commit, plan its workflows, and
// write pipeline, workflow and job rows in one transaction (all or nothing) — `createPipeline`.
// Or answered first: the pipeline row at once (`openPipeline`, state `created`) and the same work
// after the answer (`setUpPipeline`, run by pipeline-setup.ts: `fetching`, `planning`, then
// `queued` with its workflows, or `error` with its problems).
import { and, eq, inArray, sql } from "drizzle-orm";
import { declaredOrbRefs, parseConfig, planPipeline } from "../circleci/index.ts";
import type { ConfigError, JobSpec, PipelineValues, WorkflowPlan } from "../circleci/types.ts";
import type { Db } from "../db/client.ts";
import { jobs, pipelines, projects, workflows } from "../db/schema.ts";
import { ApiError, Unprocessable } from "../errors.ts";
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
  /** A fork's pull request: marked, and its config may not install schedules. */
  fromFork?: boolean;
}

type PipelineDeps = { db: Db; source: SourcePort; templates: TemplateTable };
type Project = typeof projects.$inferSelect;

/** What reading a trigger's commit finds: its workflows planned, or the config's problems. */
type Planned =
  | {
      kind: "planned";
      sha: string;
      branch: string | null;
      configPath: string;
      orbs: Record<string, string>;
      plans: ReturnType<typeof planPipeline>;
    }
  | { kind: "invalid"; sha: string; branch: string | null; configPath: string; errors: ConfigError[] };

/**
 * Resolves the ref, reads the config at that commit and plans its workflows (the slow part: git).
 * `planning` is told when the commit is known, before the config is read. Throws `Unprocessable`
 * for a ref, config or plan that cannot be used (other than an invalid config, which it returns).
 */
async function plan(
  deps: PipelineDeps,
  project: Project,
  input: TriggerInput,
  planning?: (sha: string) => Promise<void>,
): Promise<Planned> {
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
  await planning?.(sha);

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
    const branch = ref.branch ?? input.branch ?? null;
    return { kind: "invalid", sha, branch, configPath, errors: parsed.errors };
  }
  // A webhook names the branch its sha was pushed to.
  const branch = ref.branch ?? input.branch ?? null;
  if (branch && !input.tag && !input.fromFork)
    await syncConfigSchedules(deps.db, project.id, branch, parsed.config.workflows, Date.now());
  const plans = planPipeline(parsed.config, {
    branch: branch ?? undefined,
    tag: input.tag,
    revision: sha,
    parameters: input.parameters ?? {},
    repoUrl: project.repoUrl,
    // CircleCI's words: a push or pull request came by `webhook`; a trigger call by `api`.
    triggerSource: input.triggerSource ?? ((input.trigger ?? "api") === "api" ? "api" : "webhook"),
    schedule: input.schedule,
    scheduledWorkflows: input.scheduledWorkflows,
  });
  if (plans.length === 0 || plans.every((w) => w.jobs.length === 0)) {
    throw new Unprocessable(
      "no_jobs",
      `no workflow in ${configPath} runs for ${branch ? `branch ${branch}` : sha}`,
    );
  }
  return { kind: "planned", sha, branch, configPath, orbs: parsed.config.orbs, plans };
}

/** The project's next pipeline number, taken in the caller's transaction. */
async function nextNumber(tx: Tx, project: Project): Promise<number> {
  const [{ number }] = await tx
    .update(projects)
    .set({ nextPipelineNumber: sql`${projects.nextPipelineNumber} + 1` })
    .where(eq(projects.id, project.id))
    .returning({ number: sql<number>`${projects.nextPipelineNumber} - 1` });
  return number;
}

const orbsColumn = (orbs: Record<string, string>) =>
  Object.keys(orbs).length > 0 ? { orbs: JSON.stringify(orbs) } : {};

/** Plans and writes the pipeline, its workflows and jobs in one transaction, before answering. */
export async function createPipeline(deps: PipelineDeps, project: Project, input: TriggerInput) {
  const planned = await plan(deps, project, input);
  if (planned.kind === "invalid") {
    // Kept as a pipeline in state `error` listing every problem, so a bad push leaves a trace.
    const pipeline = await createErrorPipeline(deps.db, project, input, planned);
    throw invalidConfig(planned.errors, pipeline);
  }
  const { sha, branch, configPath } = planned;
  return deps.db.transaction(async (tx) => {
    const number = await nextNumber(tx, project);
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
      fromFork: input.fromFork ?? false,
      configPath,
      ...orbsColumn(planned.orbs),
    });
    return {
      id: pipelineId,
      number,
      sha,
      branch,
      ...(await insertPlan(tx, deps, project, pipelineId, planned)),
    };
  });
}

/** The pipeline row alone, `created`, with its number: what a trigger answers before its setup. */
export async function openPipeline(db: Db, project: Project, input: TriggerInput) {
  return db.transaction(async (tx) => {
    const number = await nextNumber(tx, project);
    const named = input.sha || (input.tag && !input.branch) ? null : project.defaultBranch;
    const [row] = await tx
      .insert(pipelines)
      .values({
        id: newId(),
        projectId: project.id,
        number,
        branch: input.branch ?? named,
        tag: input.tag ?? null,
        sha: input.sha ?? "",
        trigger: input.trigger ?? "api",
        metadata: input.metadata ? JSON.stringify(input.metadata) : null,
        parameters: input.parameters ? JSON.stringify(input.parameters) : null,
        configPath: "",
        status: "created",
      })
      .returning();
    return row;
  });
}

/** States of a pipeline whose setup has not ended (a restarted server resumes them). */
export const SETUP_STATES = ["created", "fetching", "planning"] as const;
export type SetupState = (typeof SETUP_STATES)[number];

/**
 * An opened pipeline's setup: `fetching`, `planning`, then `queued` with its workflows and jobs,
 * or `error` with every problem (an unknown ref or a missing config too, as one problem). `step`
 * is told of each state. Resolves with where it ended; a pipeline no longer in setup is left alone.
 */
export async function setUpPipeline(
  deps: PipelineDeps,
  pipelineId: string,
  step: (status: SetupState) => Promise<void> = async () => {},
): Promise<"queued" | "canceled" | "error" | "gone"> {
  const row = await deps.db.query.pipelines.findFirst({ where: eq(pipelines.id, pipelineId) });
  const project = row && (await deps.db.query.projects.findFirst({ where: eq(projects.id, row.projectId) }));
  if (!row || !project || !(SETUP_STATES as readonly string[]).includes(row.status)) return "gone";
  const inSetup = and(eq(pipelines.id, pipelineId), inArray(pipelines.status, [...SETUP_STATES]));
  const moveTo = async (status: SetupState) => {
    await deps.db.update(pipelines).set({ status }).where(inSetup);
    await step(status);
  };
  const input: TriggerInput = {
    // `openPipeline` filled in the default branch; a sha or a tag alone named none.
    branch: row.branch ?? undefined,
    sha: row.sha || undefined,
    tag: row.tag ?? undefined,
    trigger: row.trigger,
    parameters: row.parameters ? JSON.parse(row.parameters) : undefined,
    metadata: row.metadata ? JSON.parse(row.metadata) : undefined,
  };
  const failed = async (errors: ConfigError[], at: { sha?: string; configPath?: string } = {}) => {
    await deps.db
      .update(pipelines)
      .set({
        status: "error",
        configErrors: JSON.stringify(errors),
        finishedAt: Date.now(),
        ...(at.sha ? { sha: at.sha } : {}),
        ...(at.configPath ? { configPath: at.configPath } : {}),
      })
      .where(inSetup);
    return "error" as const;
  };
  await moveTo("fetching");
  let planned: Planned;
  try {
    planned = await plan(deps, project, input, () => moveTo("planning"));
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    // Not a config's problem (no such ref, no config, nothing runs): one problem, said the same way.
    const { path, sha } = (err.details ?? {}) as { path?: string; sha?: string };
    return failed([{ file: path ?? "", line: 0, col: 0, message: `${err.code}: ${err.message}` }], { sha });
  }
  if (planned.kind === "invalid") return failed(planned.errors, planned);
  const done = planned;
  return deps.db.transaction(async (tx) => {
    const moved = await tx
      .update(pipelines)
      .set({
        status: "queued",
        sha: done.sha,
        branch: done.branch,
        configPath: done.configPath,
        ...orbsColumn(done.orbs),
      })
      .where(inSetup);
    if (moved.rowsAffected === 0) return "gone" as const;
    const { jobs: made } = await insertPlan(tx, deps, project, pipelineId, done);
    return made.every((j) => j.status === "canceled") ? ("canceled" as const) : ("queued" as const);
  });
}

/** A planned pipeline's workflows and jobs, written in the caller's transaction. */
async function insertPlan(
  tx: Tx,
  deps: PipelineDeps,
  project: Project,
  pipelineId: string,
  planned: Extract<Planned, { kind: "planned" }>,
) {
  const made = await insertWorkflows(
    tx,
    { projectId: project.id, pipelineId, templates: deps.templates },
    planned.plans,
  );
  if (made.jobs.every((j) => j.status === "canceled"))
    await tx
      .update(pipelines)
      .set({ status: "canceled", finishedAt: Date.now() })
      .where(eq(pipelines.id, pipelineId));
  return made;
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
      fromFork: input.fromFork ?? false,
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
