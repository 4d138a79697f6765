// Admin side of the fleet: one-time registration tokens and the list of builders.
import { asc } from "drizzle-orm";
import { Hono } from "hono";
import { builders, registrationTokens } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { type AuthEnv, requireAdmin } from "../middleware/auth/index.ts";
import { hashToken, newToken } from "../secrets/index.ts";
import { iso, newId } from "../services/ids.ts";

const REGISTRATION_TTL_MS = 24 * 60 * 60 * 1000;

export const builderAdminRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  app.post("/builders/registration-tokens", async (c) => {
    const user = c.get("user");
    requireAdmin(user);
    const token = newToken("cairn_reg");
    const expiresAt = Date.now() + REGISTRATION_TTL_MS;
    await db
      .insert(registrationTokens)
      .values({ id: newId(), tokenHash: hashToken(token), createdBy: user.id, expiresAt });
    return c.json({ token, expires_at: iso(expiresAt) }, 201);
  });

  app.get("/builders", async (c) => {
    requireAdmin(c.get("user"));
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

  return app;
};
