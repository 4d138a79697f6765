// Dynamic configuration (CircleCI's continuation API): a pipeline whose config says `setup: true`
// runs its workflows as a setup phase. Each setup job gets CIRCLE_CONTINUATION_KEY (minted when it
// is leased, delivered sealed with its secrets, masked in its log, only its hash kept) and may
// POST /api/v2/pipeline/continue once with another config: its workflows are planned into the same
// pipeline. A key works once per pipeline, and only while the setup job that holds it runs.
import { and, eq, isNull } from "drizzle-orm";
import { declaredOrbRefs, PipelinePlanError, parseConfig, planPipeline } from "../circleci/index.ts";
import type { ConfigError, JobSpec, WorkflowPlan } from "../circleci/types.ts";
import type { Db } from "../db/client.ts";
import { continuationKeys, jobs, pipelines, projects } from "../db/schema.ts";
import { ApiError, BadRequest, Conflict } from "../errors.ts";
import { hashToken, newToken } from "../secrets/index.ts";
import type { EventLog } from "./events.ts";
import { resolveOrbs } from "./orbs.ts";
import { insertWorkflows, type TemplateTable } from "./pipelines.ts";
import type { Scheduler } from "./scheduler.ts";

/** The name a continuation's config errors carry (the API receives text, not a file). */
export const CONTINUATION_FILE = "continuation";

/** Where a setup job's key is sent, relative to the server's public URL (CircleCI's own path). */
export const CONTINUE_PATH = "/api/v2/pipeline/continue";

/**
 * A setup job's continuation key as a secret (`{CIRCLE_CONTINUATION_KEY}`), minted for this run of
 * the job; any other job gets none. Only the key's hash is stored.
 */
export async function continuationSecret(db: Db, jobId: string): Promise<Record<string, string>> {
  const job = await db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
  if (!job || !(JSON.parse(job.spec) as JobSpec).setup) return {};
  const key = newToken("cairn_cont");
  await db.insert(continuationKeys).values({ keyHash: hashToken(key), pipelineId: job.pipelineId, jobId });
  return { CIRCLE_CONTINUATION_KEY: key };
}

/**
 * What a setup job needs besides its key to reach this server: the continue URL, and the host for
 * scripts that build `https://$CIRCLECI_DOMAIN/api/v2/pipeline/continue` as CircleCI's orb does.
 */
export function continuationEnvironment(
  publicUrl: string,
  jobEnvironment: Record<string, string> = {},
): Record<string, string> {
  const url = new URL(publicUrl);
  const base = url.href.replace(/\/$/, "");
  return {
    CAIRN_API_URL: base,
    CAIRN_CONTINUATION_URL: `${base}${CONTINUE_PATH}`,
    // A job's own `environment:` keeps its CIRCLECI_DOMAIN.
    CIRCLECI_DOMAIN: jobEnvironment.CIRCLECI_DOMAIN ?? url.host,
  };
}

export interface ContinueRequest {
  key: string;
  configuration: string;
  parameters: Record<string, string | number | boolean>;
}

export interface ContinueDeps {
  db: Db;
  templates: TemplateTable;
  events: Pick<EventLog, "emit">;
  scheduler: Pick<Scheduler, "notify">;
}

/**
 * Continues the setup pipeline that `request.key` belongs to with `request.configuration`: checks
 * the key, plans the config with the pipeline's values and the given parameters, then (in one
 * transaction) consumes the key and writes the new workflows. An invalid config is recorded on the
 * pipeline (shown like an error pipeline's) and answers 400; the key stays usable.
 */
export async function continuePipeline(deps: ContinueDeps, request: ContinueRequest) {
  const { db } = deps;
  const keyHash = hashToken(request.key);
  const row = await db.query.continuationKeys.findFirst({ where: eq(continuationKeys.keyHash, keyHash) });
  // Never the key itself in a message: it would reach logs and responses.
  if (!row)
    throw new ApiError(404, "continuation_key_unknown", "no setup pipeline has this continuation key");
  if (row.usedAt !== null)
    throw new Conflict(
      "this pipeline was already continued: a continuation key works once",
      { pipeline_id: row.pipelineId },
      "continuation_key_used",
    );
  const job = await db.query.jobs.findFirst({ where: eq(jobs.id, row.jobId) });
  const pipeline = (await db.query.pipelines.findFirst({ where: eq(pipelines.id, row.pipelineId) }))!;
  if (job?.status !== "running" || pipeline.finishedAt !== null)
    throw new Conflict(
      "the setup job that holds this continuation key has ended: a key works only while it runs",
      { pipeline_id: row.pipelineId, job_id: row.jobId },
      "continuation_key_expired",
    );
  const project = (await db.query.projects.findFirst({ where: eq(projects.id, pipeline.projectId) }))!;

  const refs = declaredOrbRefs(request.configuration);
  const orbs = refs.length > 0 ? await resolveOrbs(db, refs) : undefined;
  const parsed = parseConfig(request.configuration, CONTINUATION_FILE, {
    continuation: true,
    ...(orbs ? { orbs } : {}),
  });
  let plans: WorkflowPlan[] = [];
  let errors = parsed.errors;
  if (parsed.config && errors.length === 0) {
    try {
      plans = planPipeline(parsed.config, {
        branch: pipeline.branch ?? undefined,
        tag: pipeline.tag ?? undefined,
        revision: pipeline.sha,
        parameters: request.parameters,
        repoUrl: project.repoUrl,
      });
    } catch (e) {
      if (!(e instanceof PipelinePlanError)) throw e;
      errors = e.errors;
    }
  }
  if (errors.length > 0) throw await refuse(db, pipeline.id, errors);

  const resolvedOrbs = { ...(pipeline.orbs ? JSON.parse(pipeline.orbs) : {}), ...parsed.config!.orbs };
  const created = await db.transaction(async (tx) => {
    // Every key of the pipeline at once: of two setup jobs racing, one continues.
    const claimed = await tx
      .update(continuationKeys)
      .set({ usedAt: Date.now() })
      .where(and(eq(continuationKeys.pipelineId, pipeline.id), isNull(continuationKeys.usedAt)));
    if (claimed.rowsAffected === 0)
      throw new Conflict(
        "this pipeline was already continued: a continuation key works once",
        { pipeline_id: pipeline.id },
        "continuation_key_used",
      );
    await tx
      .update(pipelines)
      .set({
        configErrors: null,
        ...(Object.keys(resolvedOrbs).length > 0 ? { orbs: JSON.stringify(resolvedOrbs) } : {}),
      })
      .where(eq(pipelines.id, pipeline.id));
    return insertWorkflows(
      tx,
      { projectId: project.id, pipelineId: pipeline.id, templates: deps.templates },
      plans,
    );
  });
  // One event per added workflow: the pipeline page redraws, the forge gets a pending status for each.
  for (const wf of created.workflows)
    await deps.events.emit({
      type: "pipeline.continued",
      project_id: project.id,
      pipeline_id: pipeline.id,
      workflow_id: wf.id,
      name: wf.name,
      status: "queued",
    });
  deps.scheduler.notify();
  return { pipeline: { id: pipeline.id, number: pipeline.number }, ...created };
}

/** The 400 a bad continuation answers, its problems first recorded on the pipeline for the UI. */
async function refuse(db: Db, pipelineId: string, errors: ConfigError[]): Promise<ApiError> {
  await db
    .update(pipelines)
    .set({ configErrors: JSON.stringify(errors) })
    .where(eq(pipelines.id, pipelineId));
  const lines = errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`);
  return new BadRequest(
    lines.length === 1
      ? lines[0]
      : `${lines.length} problems in the continuation config:\n${lines.join("\n")}`,
    { errors },
    "config_invalid",
  );
}
