import { and, asc, eq, gt, inArray, lt } from "drizzle-orm";
import { Hono } from "hono";
import { jobs, pipelineRequests, pipelines, projects, workflows } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { BadRequest, Conflict } from "../errors.ts";
import { newWebhookSecret, sealWebhookSecret } from "../forge/project-forge.ts";
import { publicBase } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { requireAdmin } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { readableProjectIds, requireProjectRole } from "../services/access.ts";
import { newId } from "../services/ids.ts";
import { createPipeline } from "../services/pipelines.ts";
import { page, pageParams } from "./page.ts";
import { presentPipeline, presentProject } from "./presenters.ts";
import { presentSourceControl } from "./project-settings.ts";

/** How long an `Idempotency-Key` answers with its first pipeline. */
const IDEMPOTENCY_MS = 24 * 60 * 60 * 1000;

/** A git URL Cairn can fetch: ssh://, git@host:path, https://, file:// or an absolute local path. */
export function checkRepoUrl(url: string): void {
  const ok =
    /^(ssh|https?|git|file):\/\/\S+$/.test(url) || /^[\w.-]+@[\w.-]+:\S+$/.test(url) || /^\/\S*$/.test(url);
  if (!ok || url.startsWith("-")) {
    throw new BadRequest(
      "`repo_url` must be a git URL: ssh://, git@host:path, https://, file:// or an absolute path",
      { field: "repo_url" },
      "invalid_body",
    );
  }
}

export const projectRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  /** A pipeline with its workflows and jobs, as every route answers it. */
  const presented = async (p: typeof pipelines.$inferSelect) => {
    const wfs = await db
      .select()
      .from(workflows)
      .where(eq(workflows.pipelineId, p.id))
      .orderBy(asc(workflows.createdAt));
    const js = await db.select().from(jobs).where(eq(jobs.pipelineId, p.id)).orderBy(asc(jobs.createdAt));
    return presentPipeline(p, wfs, js);
  };

  app.post("/projects", validate(ops.createProject), async (c) => {
    requireAdmin(c.get("user"));
    const { name, repo_url: repoUrl, default_branch: defaultBranch = "main" } = c.req.valid("json");
    checkRepoUrl(repoUrl);
    const existing = await db.query.projects.findFirst({ where: eq(projects.name, name) });
    if (existing)
      throw new Conflict(`a project named ${name} already exists`, { id: existing.id }, "project_exists");
    const id = newId();
    // The webhook secret is shown in this answer only; POST /projects/:id/webhook-secret makes a new one.
    const webhookSecret = newWebhookSecret();
    const [row] = await db
      .insert(projects)
      .values({
        id,
        name,
        repoUrl,
        defaultBranch,
        webhookSecret: sealWebhookSecret(deps.keyring, id, webhookSecret),
      })
      .returning();
    const base = publicBase(deps, c);
    return c.json(
      { ...presentProject(row), ...presentSourceControl(row, base), webhook_secret: webhookSecret },
      201,
    );
  });

  app.get("/projects", validate(ops.listProjects), async (c) => {
    const { after, limit } = pageParams(c.req.valid("query"), 100);
    const readable = await readableProjectIds(db, c.get("user"));
    const rows = await db
      .select()
      .from(projects)
      .where(
        and(
          readable ? inArray(projects.id, readable) : undefined,
          after ? gt(projects.name, after) : undefined,
        ),
      )
      .orderBy(asc(projects.name))
      .limit(limit + 1);
    return c.json(page(rows, limit, (p) => p.name, presentProject));
  });

  app.get("/projects/:id", async (c) => {
    const p = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "read");
    return c.json({ ...presentProject(p), ...presentSourceControl(p, publicBase(deps, c)) });
  });

  app.post("/projects/:id/pipelines", validate(ops.triggerPipeline), async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "write");
    const { branch, sha, tag, parameters } = c.req.valid("json");
    if ([branch, sha, tag].filter(Boolean).length > 1 && !(sha && tag)) {
      throw new BadRequest(
        "give one of `branch`, `tag` or `sha` (or `sha` with its `tag`)",
        undefined,
        "invalid_body",
      );
    }
    if (tag && (tag.startsWith("-") || tag.includes("..") || /\s/.test(tag))) {
      throw new BadRequest("`tag` is not a valid tag name", { field: "tag" });
    }
    const idempotencyKey = c.req.header("idempotency-key");
    if (idempotencyKey !== undefined && (idempotencyKey.length === 0 || idempotencyKey.length > 255)) {
      throw new BadRequest(
        "`Idempotency-Key` must be 1 to 255 characters",
        undefined,
        "invalid_idempotency_key",
      );
    }
    if (branch && (branch.startsWith("-") || branch.includes(".."))) {
      throw new BadRequest("`branch` is not a valid branch name", { field: "branch" });
    }
    const keyed = and(
      eq(pipelineRequests.projectId, project.id),
      eq(pipelineRequests.key, idempotencyKey ?? ""),
    );
    if (idempotencyKey) {
      await db.delete(pipelineRequests).where(lt(pipelineRequests.createdAt, Date.now() - IDEMPOTENCY_MS));
      // Claim the key before creating anything: of two requests racing with one key, one creates.
      const claimed = await db
        .insert(pipelineRequests)
        .values({ projectId: project.id, key: idempotencyKey, pipelineId: "" })
        .onConflictDoNothing();
      if (claimed.rowsAffected === 0) {
        const seen = await db.query.pipelineRequests.findFirst({ where: keyed });
        const p = seen?.pipelineId
          ? await db.query.pipelines.findFirst({ where: eq(pipelines.id, seen.pipelineId) })
          : undefined;
        if (!p)
          throw new Conflict(
            "a request with this Idempotency-Key is still being processed",
            { key: idempotencyKey },
            "idempotency_key_in_use",
          );
        c.header("Idempotent-Replayed", "true");
        return c.json(await presented(p), 200);
      }
    }
    let created: Awaited<ReturnType<typeof createPipeline>>;
    try {
      created = await createPipeline(deps, project, {
        branch,
        sha,
        tag,
        parameters,
      });
    } catch (err) {
      // Nothing was created: the key is free for a corrected retry.
      if (idempotencyKey) await db.delete(pipelineRequests).where(keyed);
      throw err;
    }
    if (idempotencyKey) await db.update(pipelineRequests).set({ pipelineId: created.id }).where(keyed);
    await deps.events.emit({
      type: "pipeline.created",
      project_id: project.id,
      pipeline_id: created.id,
      status: "queued",
    });
    deps.scheduler.notify();
    // The same shape as GET /pipelines/:id and a replay (openapi: Pipeline).
    const row = await db.query.pipelines.findFirst({ where: eq(pipelines.id, created.id) });
    return c.json(await presented(row!), 201);
  });

  return app;
};
