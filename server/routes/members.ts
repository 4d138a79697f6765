// Project members and their roles (read < write < admin); managed by the project's admins and org admins.
import { and, asc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { projectMembers, users } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { NotFound } from "../errors.ts";
import { sourceIp } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { requireProjectRole } from "../services/access.ts";
import { audit } from "../services/audit.ts";
import { iso } from "../services/ids.ts";

export const memberRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  app.get("/projects/:id/members", async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "read");
    const rows = await db
      .select({
        userId: projectMembers.userId,
        login: users.login,
        role: projectMembers.role,
        createdAt: projectMembers.createdAt,
      })
      .from(projectMembers)
      .innerJoin(users, eq(users.id, projectMembers.userId))
      .where(eq(projectMembers.projectId, project.id))
      .orderBy(asc(users.login));
    return c.json({
      items: rows.map((r) => ({
        user_id: r.userId,
        login: r.login,
        role: r.role,
        created_at: iso(r.createdAt),
      })),
      next_cursor: null,
    });
  });

  app.post("/projects/:id/members", validate(ops.addMember), async (c) => {
    const actor = c.get("user");
    const project = await requireProjectRole(deps, actor, c.req.param("id"), "admin");
    const { user_id: userId, role } = c.req.valid("json");
    const user = await db.query.users.findFirst({ where: eq(users.id, userId) });
    if (!user) throw new NotFound("user", userId);
    const existing = await db.query.projectMembers.findFirst({
      where: and(eq(projectMembers.projectId, project.id), eq(projectMembers.userId, userId)),
    });
    await db.transaction(async (tx) => {
      await tx
        .insert(projectMembers)
        .values({ projectId: project.id, userId, role })
        .onConflictDoUpdate({
          target: [projectMembers.projectId, projectMembers.userId],
          set: { role },
        });
      await audit(tx, {
        actor: { type: "user", id: actor.id },
        action: "member.added",
        target: { type: "project", id: project.id },
        ip: sourceIp(deps, c),
        details: { user_id: userId, login: user.login, role, previous_role: existing?.role ?? null },
      });
    });
    return c.json({ project_id: project.id, user_id: userId, login: user.login, role }, existing ? 200 : 201);
  });

  app.delete("/projects/:id/members/:user_id", async (c) => {
    const actor = c.get("user");
    const project = await requireProjectRole(deps, actor, c.req.param("id"), "admin");
    const userId = c.req.param("user_id");
    const where = and(eq(projectMembers.projectId, project.id), eq(projectMembers.userId, userId));
    const existing = await db.query.projectMembers.findFirst({ where });
    if (!existing) throw new NotFound("member", userId);
    await db.transaction(async (tx) => {
      await tx.delete(projectMembers).where(where);
      await audit(tx, {
        actor: { type: "user", id: actor.id },
        action: "member.removed",
        target: { type: "project", id: project.id },
        ip: sourceIp(deps, c),
        details: { user_id: userId, role: existing.role },
      });
    });
    // Requests check membership live; their streams of this project end before this answers.
    await deps.streams.recheck();
    return c.body(null, 204);
  });

  return app;
};
