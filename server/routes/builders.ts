// Admin side of the fleet: one-time registration tokens, the list of builders, revocation
// (services/builders.ts).
import { type Context, Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { sourceIp } from "../http/request.ts";
import { type AuthEnv, requireAdmin } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import type { Requester } from "../services/audit.ts";
import { issueRegistrationToken, listBuilders, revokeBuilder } from "../services/builders.ts";
import { iso } from "../services/ids.ts";
import { page, pageParams } from "./page.ts";

export const builderAdminRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;
  const by = (c: Context<AuthEnv>): Requester => ({ userId: c.get("user").id, ip: sourceIp(deps, c) });

  app.post("/builders/registration-tokens", async (c) => {
    requireAdmin(c.get("user"));
    const { token, expiresAt } = await issueRegistrationToken(db, by(c));
    return c.json({ token, expires_at: iso(expiresAt) }, 201);
  });

  app.get("/builders", validate(ops.listBuilders), async (c) => {
    requireAdmin(c.get("user"), "read");
    // Oldest first; the cursor is the last builder's `<created_at>.<id>`.
    const { after, limit } = pageParams(c.req.valid("query"), 100);
    const { rows, running } = await listBuilders(db, { after, limit: limit + 1 });
    const runningOf = (builderId: string) =>
      running
        .filter((j) => j.builderId === builderId)
        .map((j) => ({
          id: j.id,
          name: j.name,
          project_id: j.projectId,
          pipeline_id: j.pipelineId,
          slice: { index: j.sliceIndex, total: j.sliceTotal },
          started_at: iso(j.startedAt),
        }));
    return c.json(
      page(
        rows,
        limit,
        (b) => `${b.createdAt}.${b.id}`,
        (b) => ({
          id: b.id,
          name: b.name,
          slots: b.slots,
          driver: b.driver,
          last_seen_at: iso(b.lastSeenAt),
          revoked_at: iso(b.revokedAt),
          created_at: iso(b.createdAt),
          running_jobs: runningOf(b.id),
        }),
      ),
    );
  });

  app.post("/builders/:id/revoke", async (c) => {
    requireAdmin(c.get("user"));
    const id = c.req.param("id");
    const revoked = await revokeBuilder(db, id, by(c));
    // Its next call fails (403); what it was running is re-queued on another builder.
    if (revoked)
      await deps.scheduler.loseJobsOf(id, `infrastructure failure: builder ${revoked.name} was revoked`);
    return c.json({ id, revoked: true });
  });

  return app;
};
