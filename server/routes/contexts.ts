// Contexts: named groups of secrets a workflow selects (`context: [name]`), restricted to projects
// and to pipelines by expression (services/context-restrictions.ts). Anyone signed in lists their
// names; their variables' names and their restrictions are shown only to whom canReadContext allows.
import { type Context, Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { Forbidden } from "../errors.ts";
import { sourceIp } from "../http/request.ts";
import { type AuthEnv, requireAdmin } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import type { Requester } from "../services/audit.ts";
import {
  addRestriction,
  canReadContext,
  type Restriction,
  removeRestriction,
  restrictionsOf,
} from "../services/context-restrictions.ts";
import {
  type CiContext,
  createContext,
  deleteContext,
  findContext,
  listContexts,
} from "../services/contexts.ts";
import { iso } from "../services/ids.ts";
import { projectNames } from "../services/projects.ts";
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

const presentContext = (r: CiContext) => ({
  id: r.id,
  name: r.name,
  created_at: iso(r.createdAt),
});

export const contextRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  const by = (c: Context<AuthEnv>): Requester => ({ userId: c.get("user").id, ip: sourceIp(deps, c) });

  app.post("/contexts", validate(ops.createContext), async (c) => {
    requireAdmin(c.get("user"));
    const row = await createContext(db, c.req.valid("json").name, by(c));
    return c.json(presentContext(row), 201);
  });

  app.get("/contexts", async (c) => {
    const rows = await listContexts(db);
    return c.json({ items: rows.map(presentContext), next_cursor: null });
  });

  app.get("/contexts/:id", async (c) => c.json(presentContext(await findContext(db, c.req.param("id")))));

  /** Deletes the context and every variable in it. */
  app.delete("/contexts/:id", async (c) => {
    requireAdmin(c.get("user"));
    await deleteContext(db, c.req.param("id"), by(c));
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
    const ctx = await findContext(db, c.req.param("id")!);
    if (need === "read") await requireReader(c, ctx.id);
    return { kind: "context", id: ctx.id };
  });

  app.get("/contexts/:id/restrictions", validate(ops.listContextRestrictions), async (c) => {
    const ctx = await findContext(db, c.req.param("id"));
    await requireReader(c, ctx.id);
    const rows = await restrictionsOf(db, [ctx.id]);
    const names = await projectNames(db);
    return c.json({ items: rows.map((r) => presentRestriction(r, names)), next_cursor: null });
  });

  app.post("/contexts/:id/restrictions", validate(ops.addContextRestriction), async (c) => {
    const user = c.get("user");
    requireAdmin(user);
    const ctx = await findContext(db, c.req.param("id"));
    const row = await addRestriction(db, user, ctx.id, c.req.valid("json"), sourceIp(deps, c));
    const names =
      row.restrictionType === "project" ? await projectNames(db, [row.restrictionValue]) : new Map();
    return c.json(presentRestriction(row, names), 201);
  });

  app.delete(
    "/contexts/:id/restrictions/:restriction_id",
    validate(ops.removeContextRestriction),
    async (c) => {
      const user = c.get("user");
      requireAdmin(user);
      const ctx = await findContext(db, c.req.param("id"));
      await removeRestriction(db, user, ctx.id, c.req.param("restriction_id"), sourceIp(deps, c));
      return c.body(null, 204);
    },
  );

  return app;
};
