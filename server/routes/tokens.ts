// Personal API tokens: shown once when created, only their hash kept; scopes `read` / `write` /
// `admin` cap what the owner's role allows; optional expiry; revoking one makes it 401 at once.
import { and, asc, eq, gt } from "drizzle-orm";
import { Hono } from "hono";
import { apiTokens } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { BadRequest, NotFound } from "../errors.ts";
import { sourceIp } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { hashToken, newToken } from "../secrets/index.ts";
import { requireScope } from "../services/access.ts";
import { audit } from "../services/audit.ts";
import { iso, newId } from "../services/ids.ts";
import { revokeToken } from "../services/revocation.ts";
import { page, pageParams } from "./page.ts";

const presentToken = (t: typeof apiTokens.$inferSelect) => ({
  id: t.id,
  name: t.name,
  scopes: t.scopes.split(","),
  created_at: iso(t.createdAt),
  expires_at: iso(t.expiresAt),
  revoked_at: iso(t.revokedAt),
});

function readExpiry(v: string | null | undefined, now: number): number | null {
  if (v === undefined || v === null) return null;
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) {
    throw new BadRequest(
      "`expires_at` must be an ISO 8601 date-time",
      { field: "expires_at" },
      "invalid_body",
    );
  }
  if (ms <= now)
    throw new BadRequest("`expires_at` must be in the future", { field: "expires_at" }, "invalid_body");
  return ms;
}

export const tokenRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  app.post("/tokens", validate(ops.createToken), async (c) => {
    const user = c.get("user");
    const body = c.req.valid("json");
    const name = body.name;
    const scopes = [...new Set(body.scopes)];
    // A token may not mint a token stronger than itself.
    for (const s of scopes) requireScope(user, s);
    const expiresAt = readExpiry(body.expires_at, Date.now());
    const token = newToken("cairn_pat");
    const id = newId();
    const row = await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(apiTokens)
        .values({
          id,
          userId: user.id,
          name,
          tokenHash: hashToken(token),
          scopes: scopes.join(","),
          expiresAt,
        })
        .returning();
      await audit(tx, {
        actor: { type: "user", id: user.id },
        action: "token.created",
        target: { type: "api_token", id },
        ip: sourceIp(deps, c),
        details: { name, scopes, expires_at: iso(expiresAt), kind: "api" },
      });
      return row;
    });
    // The only time the token is shown.
    return c.json({ ...presentToken(row), token }, 201);
  });

  app.get("/tokens", validate(ops.listTokens), async (c) => {
    const { after, limit } = pageParams(c.req.valid("query"));
    const mine = eq(apiTokens.userId, c.get("user").id);
    const rows = await db
      .select()
      .from(apiTokens)
      .where(after ? and(mine, gt(apiTokens.id, after)) : mine)
      .orderBy(asc(apiTokens.id))
      .limit(limit + 1);
    return c.json(page(rows, limit, (t) => t.id, presentToken));
  });

  app.delete("/tokens/:id", async (c) => {
    const user = c.get("user");
    const id = c.req.param("id");
    const row = await db.query.apiTokens.findFirst({
      where: and(eq(apiTokens.id, id), eq(apiTokens.userId, user.id)),
    });
    if (!row) throw new NotFound("token", id);
    if (row.revokedAt === null) {
      await db.transaction(async (tx) => {
        await revokeToken(tx, id);
        await audit(tx, {
          actor: { type: "user", id: user.id },
          action: "token.revoked",
          target: { type: "api_token", id },
          ip: sourceIp(deps, c),
          details: { name: row.name },
        });
      });
    }
    // Streams opened with it, or with a session made from it, end before this answers.
    await deps.streams.recheck();
    return c.body(null, 204);
  });

  return app;
};
