import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { publicBase } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { requireAdmin } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { readableProjectIds, requireProjectRole } from "../services/access.ts";
import { triggerPipeline } from "../services/pipeline-requests.ts";
import { createProject, listProjects } from "../services/projects.ts";
import { findPipeline, pipelineTree } from "../services/runs.ts";
import { page, pageParams } from "./page.ts";
import { presentPipeline, presentPipelineTree, presentProject } from "./presenters.ts";
import { presentSourceControl } from "./project-settings.ts";

export const projectRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  app.post("/projects", validate(ops.createProject), async (c) => {
    requireAdmin(c.get("user"));
    const { name, repo_url: repoUrl, default_branch: defaultBranch = "main" } = c.req.valid("json");
    // The webhook secret is shown in this answer only; POST /projects/:id/webhook-secret makes a new one.
    const { project, webhookSecret } = await createProject(db, deps.keyring, {
      name,
      repoUrl,
      defaultBranch,
    });
    return c.json(
      {
        ...presentProject(project),
        ...presentSourceControl(project, publicBase(deps, c)),
        webhook_secret: webhookSecret,
      },
      201,
    );
  });

  app.get("/projects", validate(ops.listProjects), async (c) => {
    const { after, limit } = pageParams(c.req.valid("query"), 100);
    const readable = await readableProjectIds(db, c.get("user"));
    const rows = await listProjects(db, { readable, after, limit: limit + 1 });
    return c.json(page(rows, limit, (p) => p.name, presentProject));
  });

  app.get("/projects/:id", async (c) => {
    const p = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "read");
    return c.json({ ...presentProject(p), ...presentSourceControl(p, publicBase(deps, c)) });
  });

  app.post("/projects/:id/pipelines", validate(ops.triggerPipeline), async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "write");
    const { branch, sha, tag, parameters } = c.req.valid("json");
    const { pipeline, replayed } = await triggerPipeline(
      deps,
      project,
      { branch, sha, tag, parameters },
      c.req.header("idempotency-key"),
    );
    if (replayed) c.header("Idempotent-Replayed", "true");
    // `Prefer: wait=N` (RFC 7240): answer once the setup ended, or after N seconds, whichever is first.
    const wait = preferredWait(c.req.header("prefer"));
    let answered = pipeline;
    if (wait > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((r) => {
        timer = setTimeout(r, wait * 1000);
      });
      await Promise.race([deps.setup.settled(pipeline.id), late]);
      clearTimeout(timer);
      answered = (await findPipeline(db, pipeline.id)) ?? pipeline;
      c.header("Preference-Applied", `wait=${wait}`);
    }
    // The same shape as GET /pipelines/:id and a replay (openapi: Pipeline). Just `created`, it has
    // no workflows yet: answered without reading them.
    if (answered.status === "created" && !replayed) return c.json(presentPipeline(answered, [], []), 201);
    return c.json(presentPipelineTree(await pipelineTree(db, answered)), replayed ? 200 : 201);
  });

  return app;
};

/** Seconds of a `Prefer: wait=N` (at most 60); 0 without one or with `respond-async`. */
function preferredWait(prefer: string | undefined): number {
  if (!prefer || /\brespond-async\b/i.test(prefer)) return 0;
  const m = /\bwait=(\d+)/i.exec(prefer);
  return m ? Math.min(Number(m[1]), 60) : 0;
}
