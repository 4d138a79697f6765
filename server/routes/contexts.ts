// Contexts: named groups of secrets that any project's workflow can select (`context: [name]`).
import { asc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { contextEnvVars, contexts } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { Conflict, NotFound } from "../errors.ts";
import { type AuthEnv, requireAdmin } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { audit } from "../services/audit.ts";
import { iso, newId } from "../services/ids.ts";
import { mountSecretVars, sourceIp } from "./envvars.ts";

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

  mountSecretVars(app, deps, "/contexts/:id/envvars", validate(ops.setContextEnvVar), async (c, need) => {
    if (need === "admin") requireAdmin(c.get("user"));
    const ctx = await findContext(c.req.param("id")!);
    return { kind: "context", id: ctx.id };
  });

  return app;
};
