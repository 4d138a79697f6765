// A project's schedules: list and read (read access); create, change and remove (write access: a
// schedule triggers pipelines as the user who saved it). services/schedules.ts holds the rules.
import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { sourceIp } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { requireProjectRole } from "../services/access.ts";
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  presentSchedule,
  updateSchedule,
} from "../services/schedules.ts";

export const scheduleRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  app.post("/projects/:id/schedules", validate(ops.createSchedule), async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "write");
    const actor = { id: c.get("user").id, ip: sourceIp(deps, c) };
    const row = await createSchedule(db, actor, project, c.req.valid("json"), Date.now());
    return c.json(await presentSchedule(db, row), 201);
  });

  app.get("/projects/:id/schedules", async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "read");
    const rows = await listSchedules(db, project.id);
    return c.json({ items: await Promise.all(rows.map((r) => presentSchedule(db, r))), next_cursor: null });
  });

  app.get("/projects/:id/schedules/:schedule", async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "read");
    return c.json(await presentSchedule(db, await getSchedule(db, project.id, c.req.param("schedule"))));
  });

  app.patch("/projects/:id/schedules/:schedule", validate(ops.updateSchedule), async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "write");
    const actor = { id: c.get("user").id, ip: sourceIp(deps, c) };
    const row = await updateSchedule(
      db,
      actor,
      project.id,
      c.req.param("schedule"),
      c.req.valid("json"),
      Date.now(),
    );
    return c.json(await presentSchedule(db, row));
  });

  app.delete("/projects/:id/schedules/:schedule", async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "write");
    await deleteSchedule(
      db,
      { id: c.get("user").id, ip: sourceIp(deps, c) },
      project.id,
      c.req.param("schedule"),
    );
    return c.body(null, 204);
  });

  return app;
};
