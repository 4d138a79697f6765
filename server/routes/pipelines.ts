import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { BadRequest, Conflict } from "../errors.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import {
  requireJobRole,
  requirePipelineRole,
  requireProjectRole,
  requireWorkflowRole,
} from "../services/access.ts";
import { type JobRow, pipelineTreeById, projectPipelines, sshEndpointOf, stepsOf } from "../services/runs.ts";
import { page, pageParams } from "./page.ts";
import { presentJob, presentPipelineTree } from "./presenters.ts";

/** The `ssh` command for a job re-run with SSH, once a builder with an SSH server holds it. */
function sshInfo(job: JobRow, endpoint: string | null) {
  if (!job.sshEnabled) return null;
  if (!endpoint) return { enabled: true, command: null };
  const at = endpoint.lastIndexOf(":");
  return { enabled: true, command: `ssh -p ${endpoint.slice(at + 1)} ${job.id}@${endpoint.slice(0, at)}` };
}

export const pipelineRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  const loadPipeline = async (id: string) => presentPipelineTree(await pipelineTreeById(db, id));

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
    const rows = await projectPipelines(db, id, {
      before: after ? Number(after) : undefined,
      limit: limit + 1,
    });
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
    const ss = await stepsOf(db, id);
    return c.json({ ...presentJob(job, ss), ssh: sshInfo(job, await sshEndpointOf(db, job)) });
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
