// Contexts: named groups of secrets a workflow selects (`context: [name]`), restricted to projects
// and to pipelines by expression (services/context-restrictions.ts). Anyone signed in lists their
// names; their variables' names and their restrictions are shown only to whom canReadContext allows.
import { asc, eq } from "drizzle-orm";
import { type Context, Hono } from "hono";
import { contextEnvVars, contextRestrictions, contexts, projects } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { Conflict, Forbidden, NotFound } from "../errors.ts";
import { sourceIp } from "../http/request.ts";
import { type AuthEnv, requireAdmin } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { audit } from "../services/audit.ts";
import {
  addRestriction,
  canReadContext,
  type Restriction,
  removeRestriction,
  restrictionsOf,
} from "../services/context-restrictions.ts";
import { iso, newId } from "../services/ids.ts";
import { mountSecretVars } from "./envvars.ts";

const presentRestriction = (r: Restriction, projectNames: Map<string, string>) => ({
  id: r.id,
  context_id: r.contextId,
  restriction_type: r.restrictionType,
  restriction_value: r.restrictionValue,
  /** The project's name for a project restriction. */
  name: r.restrictionType === "project" ? (projectNames.get(r.restrictionValue) ?? null) : null,
  created_at: iso(r.createdAt),
});

const presentContext = (r: typeof contexts.$inferSelect) => ({
  id: r.id,
  name: r.name,
  created_at: iso(r.createdAt),
});

export const contextRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  const findContext = async (id: string) => {
    const row = await db.query.contexts.findFirst({ where: eq(contexts.id, id) });
    if (!row) throw new NotFound("context", id);
    return row;
  };

  app.post("/contexts", validate(ops.createContext), async (c) => {
    const user = c.get("user");
    requireAdmin(user);
    const { name } = c.req.valid("json");
    const row = await db.transaction(async (tx) => {
      const existing = await tx.query.contexts.findFirst({ where: eq(contexts.name, name) });
      if (existing)
        throw new Conflict(`a context named ${name} already exists`, { id: existing.id }, "context_exists");
      const [created] = await tx.insert(contexts).values({ id: newId(), name }).returning();
      await audit(tx, {
        actor: { type: "user", id: user.id },
        action: "context.created",
        target: { type: "context", id: created.id },
        ip: sourceIp(deps, c),
        details: { name },
      });
      return created;
    });
    return c.json(presentContext(row), 201);
  });

  app.get("/contexts", async (c) => {
    const rows = await db.select().from(contexts).orderBy(asc(contexts.name));
    return c.json({ items: rows.map(presentContext), next_cursor: null });
  });

  app.get("/contexts/:id", async (c) => c.json(presentContext(await findContext(c.req.param("id")))));

  /** Deletes the context and every variable in it. */
  app.delete("/contexts/:id", async (c) => {
    const user = c.get("user");
    requireAdmin(user);
    const ctx = await findContext(c.req.param("id"));
    await db.transaction(async (tx) => {
      const vars = await tx.delete(contextEnvVars).where(eq(contextEnvVars.contextId, ctx.id));
      await tx.delete(contextRestrictions).where(eq(contextRestrictions.contextId, ctx.id));
      const r = await tx.delete(contexts).where(eq(contexts.id, ctx.id));
      if (r.rowsAffected !== 1) throw new NotFound("context", ctx.id);
      await audit(tx, {
        actor: { type: "user", id: user.id },
        action: "context.deleted",
        target: { type: "context", id: ctx.id },
        ip: sourceIp(deps, c),
        details: { name: ctx.name, env_vars_deleted: vars.rowsAffected },
      });
    });
    return c.body(null, 204);
  });

  /** 403 unless the user may read the context's variable names and restrictions. */
  const requireReader = async (c: Context<AuthEnv>, contextId: string) => {
    if (!(await canReadContext(db, c.get("user"), contextId)))
      throw new Forbidden(
        "reading a context needs the admin role, or a role in a project the context is restricted to",
      );
  };

  mountSecretVars(app, deps, "/contexts/:id/envvars", validate(ops.setContextEnvVar), async (c, need) => {
    if (need === "admin") requireAdmin(c.get("user"));
    const ctx = await findContext(c.req.param("id")!);
    if (need === "read") await requireReader(c, ctx.id);
    return { kind: "context", id: ctx.id };
  });

  app.get("/contexts/:id/restrictions", validate(ops.listContextRestrictions), async (c) => {
    const ctx = await findContext(c.req.param("id"));
    await requireReader(c, ctx.id);
    const rows = await restrictionsOf(db, [ctx.id]);
    const names = new Map(
      (await db.select({ id: projects.id, name: projects.name }).from(projects)).map((p) => [p.id, p.name]),
    );
    return c.json({ items: rows.map((r) => presentRestriction(r, names)), next_cursor: null });
  });

  app.post("/contexts/:id/restrictions", validate(ops.addContextRestriction), async (c) => {
    const user = c.get("user");
    requireAdmin(user);
    const ctx = await findContext(c.req.param("id"));
    const row = await addRestriction(db, user, ctx.id, c.req.valid("json"), sourceIp(deps, c));
    const project =
      row.restrictionType === "project"
        ? await db.query.projects.findFirst({ where: eq(projects.id, row.restrictionValue) })
        : undefined;
    return c.json(presentRestriction(row, new Map(project ? [[project.id, project.name]] : [])), 201);
  });

  app.delete(
    "/contexts/:id/restrictions/:restriction_id",
    validate(ops.removeContextRestriction),
    async (c) => {
      const user = c.get("user");
      requireAdmin(user);
      const ctx = await findContext(c.req.param("id"));
      await removeRestriction(db, user, ctx.id, c.req.param("restriction_id"), sourceIp(deps, c));
      return c.body(null, 204);
    },
  );

  return app;
};
