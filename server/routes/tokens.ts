// Personal API tokens (services/tokens.ts): shown once when created; revoking one makes it 401 at once.
import { type Context, Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { sourceIp } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { requireScope } from "../services/access.ts";
import type { Requester } from "../services/audit.ts";
import { iso } from "../services/ids.ts";
import { type ApiToken, createToken, readExpiry, revokeOwnToken, tokensOf } from "../services/tokens.ts";
import { page, pageParams } from "./page.ts";

const presentToken = (t: ApiToken) => ({
  id: t.id,
  name: t.name,
  scopes: t.scopes.split(","),
  created_at: iso(t.createdAt),
  expires_at: iso(t.expiresAt),
  revoked_at: iso(t.revokedAt),
});

export const tokenRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;
  const by = (c: Context<AuthEnv>): Requester => ({ userId: c.get("user").id, ip: sourceIp(deps, c) });

  app.post("/tokens", validate(ops.createToken), async (c) => {
    const user = c.get("user");
    const body = c.req.valid("json");
    const scopes = [...new Set(body.scopes)];
    // A token may not mint a token stronger than itself.
    for (const s of scopes) requireScope(user, s);
    const expiresAt = readExpiry(body.expires_at, Date.now());
    const { row, token } = await createToken(db, { name: body.name, scopes, expiresAt }, by(c));
    // The only time the token is shown.
    return c.json({ ...presentToken(row), token }, 201);
  });

  app.get("/tokens", validate(ops.listTokens), async (c) => {
    const { after, limit } = pageParams(c.req.valid("query"));
    const rows = await tokensOf(db, c.get("user").id, { after, limit: limit + 1 });
    return c.json(page(rows, limit, (t) => t.id, presentToken));
  });

  app.delete("/tokens/:id", async (c) => {
    await revokeOwnToken(db, c.req.param("id"), by(c));
    // Streams opened with it, or with a session made from it, end before this answers.
    await deps.streams.recheck();
    return c.body(null, 204);
  });

  return app;
};
