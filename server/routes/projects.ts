import { asc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { projects } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { BadRequest, Conflict, NotFound } from "../errors.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { requireAdmin } from "../middleware/auth/index.ts";
import { newId } from "../services/ids.ts";
import { createPipeline } from "../services/pipelines.ts";
import { readJson, str } from "./body.ts";
import { presentProject } from "./presenters.ts";

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

  const findProject = async (id: string) => {
    const p = await db.query.projects.findFirst({ where: eq(projects.id, id) });
    if (!p) throw new NotFound("project", id);
    return p;
  };

  app.post("/projects", async (c) => {
    requireAdmin(c.get("user"));
    const body = await readJson(c);
    const name = str(body, "name", { required: true, max: 200 })!;
    const repoUrl = str(body, "repo_url", { required: true, max: 2048 })!;
    const defaultBranch = str(body, "default_branch", { max: 255 }) ?? "main";
    if (!/^[\w.-]+(\/[\w.-]+)?$/.test(name)) {
      throw new BadRequest("`name` may hold letters, digits, `.`, `_`, `-` and one `/`", { field: "name" });
    }
    checkRepoUrl(repoUrl);
    const existing = await db.query.projects.findFirst({ where: eq(projects.name, name) });
    if (existing) throw new Conflict(`a project named ${name} already exists`, { id: existing.id }, "project_exists");
    const [row] = await db.insert(projects).values({ id: newId(), name, repoUrl, defaultBranch }).returning();
    return c.json(presentProject(row), 201);
  });

  app.get("/projects", async (c) => {
    const rows = await db.select().from(projects).orderBy(asc(projects.name));
    return c.json({ items: rows.map(presentProject), next_cursor: null });
  });

  app.get("/projects/:id", async (c) => c.json(presentProject(await findProject(c.req.param("id")))));

  app.post("/projects/:id/pipelines", async (c) => {
    const project = await findProject(c.req.param("id"));
    const body = await readJson(c);
    const branch = str(body, "branch", { max: 255 });
    const sha = str(body, "sha", { max: 64 });
    if (branch && sha) throw new BadRequest("give `branch` or `sha`, not both", undefined, "invalid_body");
    if (sha && !/^[0-9a-f]{4,64}$/i.test(sha)) throw new BadRequest("`sha` must be a hex commit id", { field: "sha" });
    if (branch && (branch.startsWith("-") || branch.includes(".."))) {
      throw new BadRequest("`branch` is not a valid branch name", { field: "branch" });
    }
    const parameters = body.parameters;
    if (parameters !== undefined && (typeof parameters !== "object" || parameters === null || Array.isArray(parameters))) {
      throw new BadRequest("`parameters` must be an object", { field: "parameters" });
    }
    const created = await createPipeline(deps, project, {
      branch,
      sha,
      parameters: parameters as Record<string, string | number | boolean> | undefined,
    });
    await deps.events.emit({ type: "pipeline.created", project_id: project.id, pipeline_id: created.id, status: "queued" });
    deps.scheduler.notify();
    return c.json(created, 201);
  });

  return app;
};
