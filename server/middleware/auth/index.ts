// Bearer-token authentication: a user's API token for the REST API, a builder's token for the
// builder protocol. Only hashes are stored, so a stolen database holds no usable token.
import { and, eq, isNull } from "drizzle-orm";
import type { MiddlewareHandler } from "hono";
import type { Db } from "../../db/client.ts";
import { apiTokens, builders, users } from "../../db/schema.ts";
import { Forbidden, Unauthorized } from "../../errors.ts";
import { hashToken } from "../../secrets/index.ts";
import { requireScope } from "../../services/access.ts";
import { checkCsrf, sessionFromCookie } from "../session/index.ts";

export type User = typeof users.$inferSelect & { scopes: string[] };
export type Builder = typeof builders.$inferSelect;

export type AuthEnv = { Variables: { user: User; builder: Builder } };

function bearer(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  return m ? m[1] : null;
}

export interface UserAuthOptions {
  db: Db;
  /** Also accept `?access_token=` — only for EventSource, which cannot set headers. Off by default. */
  allowQueryToken?: boolean;
}

export const userAuth = (options: UserAuthOptions): MiddlewareHandler<AuthEnv> => {
  const { db } = { allowQueryToken: false, ...options } satisfies UserAuthOptions;
  return async (c, next) => {
    const token = bearer(c.req.header("authorization"));
    if (!token) {
      // A browser: the session cookie, and the CSRF header on writes (server/middleware/session).
      const session = await sessionFromCookie(c, db);
      if (!session) throw new Unauthorized();
      checkCsrf(c, session.sessionId);
      c.set("user", { ...session.user, scopes: session.scopes });
      if (!SAFE_METHODS.has(c.req.method)) requireScope(c.get("user"), "write");
      return next();
    }
    const row = await db
      .select({ user: users, scopes: apiTokens.scopes, expiresAt: apiTokens.expiresAt })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(and(eq(apiTokens.tokenHash, hashToken(token)), isNull(apiTokens.revokedAt)))
      .get();
    if (!row || (row.expiresAt !== null && row.expiresAt < Date.now())) {
      throw new Unauthorized("the API token is not valid (unknown, revoked or expired)");
    }
    c.set("user", { ...row.user, scopes: row.scopes.split(",") });
    // A `read` token changes nothing, whatever the route; routes check roles (services/access.ts).
    if (!SAFE_METHODS.has(c.req.method)) requireScope(c.get("user"), "write");
    await next();
  };
};

export const builderAuth = (options: { db: Db }): MiddlewareHandler<AuthEnv> => {
  const { db } = options;
  return async (c, next) => {
    const token = bearer(c.req.header("authorization"));
    if (!token) throw new Unauthorized("a builder token is required");
    const builder = await db.query.builders.findFirst({ where: eq(builders.tokenHash, hashToken(token)) });
    if (!builder) throw new Unauthorized("unknown builder token");
    if (builder.revokedAt) throw new Forbidden("this builder was revoked by an administrator");
    c.set("builder", builder);
    await next();
  };
};

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** An org admin, with a token scoped `admin` (or `read` for an admin-only read, e.g. the audit log). */
export function requireAdmin(user: User, need: "read" | "admin" = "admin"): void {
  if (user.role !== "admin") throw new Forbidden("only administrators can do this");
  requireScope(user, need);
}
