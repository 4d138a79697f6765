// Admin side of the fleet: one-time registration tokens and the list of builders.
import { and, asc, eq, isNull } from "drizzle-orm";
import { Hono } from "hono";
import { builders, registrationTokens } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { NotFound } from "../errors.ts";
import { type AuthEnv, requireAdmin } from "../middleware/auth/index.ts";
import { audit } from "../services/audit.ts";
import { createRegistrationToken } from "../services/builders.ts";
import { iso } from "../services/ids.ts";
import { hashToken } from "../secrets/index.ts";

export const builderAdminRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  app.post("/builders/registration-tokens", async (c) => {
    const user = c.get("user");
    requireAdmin(user);
    const { token, expiresAt } = await createRegistrationToken(db, user.id);
    const row = await db.query.registrationTokens.findFirst({ where: eq(registrationTokens.tokenHash, hashToken(token)) });
    await audit(db, {
      actor: { type: "user", id: user.id },
      action: "token.created",
      target: { type: "registration_token", id: row?.id ?? "unknown" },
      ip: deps.clientIp?.(c) ?? null,
      details: { kind: "registration", expires_at: iso(expiresAt) },
    });
    return c.json({ token, expires_at: iso(expiresAt) }, 201);
  });

  app.get("/builders", async (c) => {
    requireAdmin(c.get("user"), "read");
    const rows = await db.select().from(builders).orderBy(asc(builders.createdAt));
    return c.json({
      items: rows.map((b) => ({
        id: b.id,
        name: b.name,
        slots: b.slots,
        driver: b.driver,
        last_seen_at: iso(b.lastSeenAt),
        revoked_at: iso(b.revokedAt),
        created_at: iso(b.createdAt),
      })),
      next_cursor: null,
    });
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
