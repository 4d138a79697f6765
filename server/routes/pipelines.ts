import { and, asc, desc, eq, lt } from "drizzle-orm";
import { Hono } from "hono";
import { builders, jobs, pipelines, steps, workflows } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { BadRequest, Conflict, NotFound } from "../errors.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import {
  requireJobRole,
  requirePipelineRole,
  requireProjectRole,
  requireWorkflowRole,
} from "../services/access.ts";
import { page, pageParams } from "./page.ts";
import { presentJob, presentPipeline } from "./presenters.ts";

/** The `ssh` command for a job re-run with SSH, once a builder with an SSH server holds it. */
function sshInfo(job: typeof jobs.$inferSelect, endpoint: string | null) {
  if (!job.sshEnabled) return null;
  if (!endpoint) return { enabled: true, command: null };
  const at = endpoint.lastIndexOf(":");
  return { enabled: true, command: `ssh -p ${endpoint.slice(at + 1)} ${job.id}@${endpoint.slice(0, at)}` };
}

export const pipelineRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  const loadPipeline = async (id: string) => {
    const p = await db.query.pipelines.findFirst({ where: eq(pipelines.id, id) });
    if (!p) throw new NotFound("pipeline", id);
    const wfs = await db
      .select()
      .from(workflows)
      .where(eq(workflows.pipelineId, id))
      .orderBy(asc(workflows.createdAt));
    const js = await db.select().from(jobs).where(eq(jobs.pipelineId, id)).orderBy(asc(jobs.createdAt));
    return presentPipeline(p, wfs, js);
  };

  app.get("/projects/:id/pipelines", validate(ops.listPipelines), async (c) => {
    const id = c.req.param("id");
    await requireProjectRole(deps, c.get("user"), id, "read");
    const { after, limit } = pageParams(c.req.valid("query"));
    if (after !== undefined && !/^\d{1,15}$/.test(after)) {
      throw new BadRequest(
        "`cursor` is not a cursor this list gave out",
        { field: "cursor" },
        "invalid_query",
      );
    }
    const rows = await db
      .select()
      .from(pipelines)
      .where(and(eq(pipelines.projectId, id), after ? lt(pipelines.number, Number(after)) : undefined))
      .orderBy(desc(pipelines.number))
      .limit(limit + 1);
    const { items, next_cursor } = page(
      rows,
      limit,
      (p) => String(p.number),
      (p) => p.id,
    );
    return c.json({ items: await Promise.all(items.map((pid) => loadPipeline(pid))), next_cursor });
  });

  app.get("/pipelines/:id", async (c) => {
    const p = await requirePipelineRole(deps, c.get("user"), c.req.param("id"), "read");
    return c.json(await loadPipeline(p.id));
  });

  app.get("/jobs/:id", async (c) => {
    const id = c.req.param("id");
    const job = await requireJobRole(deps, c.get("user"), id, "read");
    const ss = await db.select().from(steps).where(eq(steps.jobId, id)).orderBy(asc(steps.index));
    const builder =
      job.sshEnabled && job.builderId
        ? await db.query.builders.findFirst({ where: eq(builders.id, job.builderId) })
        : null;
    return c.json({ ...presentJob(job, ss), ssh: sshInfo(job, builder?.sshEndpoint ?? null) });
  });

  app.post("/jobs/:id/cancel", async (c) => {
    const id = c.req.param("id");
    const job = await requireJobRole(deps, c.get("user"), id, "write");
    const canceled = await deps.scheduler.cancel(id);
    return c.json({ id, canceled, status: canceled ? "canceled" : job.status }, canceled ? 202 : 200);
  });

  // Re-run one job as a new attempt; {"ssh": true} keeps its container up for SSH afterwards.
  app.post("/jobs/:id/rerun", validate(ops.rerunJob), async (c) => {
    const id = c.req.param("id");
    await requireJobRole(deps, c.get("user"), id, "write");
    const body = c.req.valid("json");
    let created: string;
    try {
      created = await deps.scheduler.rerunJob(id, { ssh: body.ssh === true });
    } catch (err) {
      throw new Conflict((err as Error).message, { job_id: id }, "job_not_rerunnable");
    }
    return c.json({ job_id: created, retry_of: id, ssh: body.ssh === true }, 202);
  });

  // Re-run a finished workflow: all jobs, or with {"from_failed": true} only those that did not succeed.
  app.post("/workflows/:id/rerun", validate(ops.rerunWorkflow), async (c) => {
    const id = c.req.param("id");
    const wf = await requireWorkflowRole(deps, c.get("user"), id, "write");
    const body = c.req.valid("json");
    let created: string[];
    try {
      created = await deps.scheduler.rerunWorkflow(id, body.from_failed === true);
    } catch (err) {
      throw new Conflict((err as Error).message, { workflow_id: id }, "workflow_running");
    }
    return c.json({ workflow_id: id, pipeline_id: wf.pipelineId, jobs: created }, 202);
  });

  return app;
};
