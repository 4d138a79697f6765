// Project members and their roles (read < write < admin); managed by the project's admins and org
// admins. The rules and writes are services/members.ts.
import { type Context, Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { sourceIp } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { requireProjectRole } from "../services/access.ts";
import type { Requester } from "../services/audit.ts";
import { iso } from "../services/ids.ts";
import { membersOf, removeMember, setMember } from "../services/members.ts";

export const memberRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;
  const by = (c: Context<AuthEnv>): Requester => ({ userId: c.get("user").id, ip: sourceIp(deps, c) });

  app.get("/projects/:id/members", async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "read");
    const rows = await membersOf(db, project.id);
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
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "admin");
    const { user_id: userId, role } = c.req.valid("json");
    const { login, added } = await setMember(db, project.id, userId, role, by(c));
    return c.json({ project_id: project.id, user_id: userId, login, role }, added ? 201 : 200);
  });

  app.delete("/projects/:id/members/:user_id", async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "admin");
    await removeMember(db, project.id, c.req.param("user_id"), by(c));
    // Requests check membership live; their streams of this project end before this answers.
    await deps.streams.recheck();
    return c.body(null, 204);
  });

  return app;
};
