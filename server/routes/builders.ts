// Admin side of the fleet: one-time registration tokens and the list of builders.
import { and, asc, eq, gt, inArray, isNull, or } from "drizzle-orm";
import { Hono } from "hono";
import { builders, jobs, registrationTokens } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { BadRequest, NotFound } from "../errors.ts";
import { type AuthEnv, requireAdmin } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { hashToken } from "../secrets/index.ts";
import { audit } from "../services/audit.ts";
import { createRegistrationToken } from "../services/builders.ts";
import { iso } from "../services/ids.ts";
import { page, pageParams } from "./page.ts";

export const builderAdminRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  app.post("/builders/registration-tokens", async (c) => {
    const user = c.get("user");
    requireAdmin(user);
    const { token, expiresAt } = await createRegistrationToken(db, user.id);
    const row = await db.query.registrationTokens.findFirst({
      where: eq(registrationTokens.tokenHash, hashToken(token)),
    });
    await audit(db, {
      actor: { type: "user", id: user.id },
      action: "token.created",
      target: { type: "registration_token", id: row?.id ?? "unknown" },
      ip: deps.clientIp?.(c) ?? null,
      details: { kind: "registration", expires_at: iso(expiresAt) },
    });
    return c.json({ token, expires_at: iso(expiresAt) }, 201);
  });

  app.get("/builders", validate(ops.listBuilders), async (c) => {
    requireAdmin(c.get("user"), "read");
    // Oldest first; the cursor is the last builder's `<created_at>.<id>`.
    const { after, limit } = pageParams(c.req.valid("query"), 100);
    const m = after === undefined ? null : /^(\d{1,15})\.(.+)$/.exec(after);
    if (after !== undefined && !m)
      throw new BadRequest(
        "`cursor` is not a cursor this list gave out",
        { field: "cursor" },
        "invalid_query",
      );
    const rows = await db
      .select()
      .from(builders)
      .where(
        m
          ? or(
              gt(builders.createdAt, Number(m[1])),
              and(eq(builders.createdAt, Number(m[1])), gt(builders.id, m[2])),
            )
          : undefined,
      )
      .orderBy(asc(builders.createdAt), asc(builders.id))
      .limit(limit + 1);
    // What each builder on this page is running now (its leased jobs), one query for the page.
    const running = rows.length
      ? await db
          .select({
            id: jobs.id,
            name: jobs.name,
            builderId: jobs.builderId,
            projectId: jobs.projectId,
            pipelineId: jobs.pipelineId,
            sliceIndex: jobs.sliceIndex,
            sliceTotal: jobs.sliceTotal,
            startedAt: jobs.startedAt,
          })
          .from(jobs)
          .where(
            and(
              eq(jobs.status, "running"),
              inArray(
                jobs.builderId,
                rows.map((b) => b.id),
              ),
            ),
          )
          .orderBy(asc(jobs.startedAt))
      : [];
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
    const user = c.get("user");
    requireAdmin(user);
    const id = c.req.param("id");
    const builder = await db.query.builders.findFirst({ where: eq(builders.id, id) });
    if (!builder) throw new NotFound("builder", id);
    const r = await db
      .update(builders)
      .set({ revokedAt: Date.now() })
      .where(and(eq(builders.id, id), isNull(builders.revokedAt)));
    if (r.rowsAffected === 1) {
      await audit(db, {
        actor: { type: "user", id: user.id },
        action: "builder.revoked",
        target: { type: "builder", id },
        ip: deps.clientIp?.(c) ?? null,
        details: { name: builder.name },
      });
      // Its next call fails (403); what it was running is re-queued on another builder.
      await deps.scheduler.loseJobsOf(id, `infrastructure failure: builder ${builder.name} was revoked`);
    }
    return c.json({ id, revoked: true });
  });

  return app;
};
