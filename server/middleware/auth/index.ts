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

/** What a request authenticated with: streams are ended when it is revoked (services/stream-guard.ts). */
export type Credential = { kind: "session"; idHash: string } | { kind: "token"; id: string };

export type User = typeof users.$inferSelect & { scopes: string[]; credential?: Credential };
export type Builder = typeof builders.$inferSelect;

/** `streamProject`: the project of the stream a WebSocket upgrade is about to open (routes/logs.ts). */
export type AuthEnv = { Variables: { user: User; builder: Builder; streamProject: string } };

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
      c.set("user", {
        ...session.user,
        scopes: session.scopes,
        credential: { kind: "session", idHash: session.idHash },
      });
      if (!SAFE_METHODS.has(c.req.method)) requireScope(c.get("user"), "write");
      return next();
    }
    const row = await db
      .select({ id: apiTokens.id, user: users, scopes: apiTokens.scopes, expiresAt: apiTokens.expiresAt })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(and(eq(apiTokens.tokenHash, hashToken(token)), isNull(apiTokens.revokedAt)))
      .get();
    if (!row || (row.expiresAt !== null && row.expiresAt < Date.now())) {
      throw new Unauthorized("the API token is not valid (unknown, revoked or expired)");
    }
    c.set("user", { ...row.user, scopes: row.scopes.split(","), credential: { kind: "token", id: row.id } });
    // A `read` token changes nothing, whatever the route; routes check roles (services/access.ts).
    if (!SAFE_METHODS.has(c.req.method)) requireScope(c.get("user"), "write");
    await next();
  };
};

export interface BuilderAuthOptions {
  db: Db;
  /**
   * Reuse a token's builder row for this long (0: look it up on every request). For the per-job
   * calls a builder makes many times a second (log uploads, heartbeats): a revocation reaches them
   * within this time, and the jobs of a revoked builder are re-queued at once anyway.
   */
  cacheMs?: number;
}

export const builderAuth = (options: BuilderAuthOptions): MiddlewareHandler<AuthEnv> => {
  const { db, cacheMs } = { cacheMs: 0, ...options } satisfies BuilderAuthOptions;
  const cache = new Map<string, { builder: Builder; at: number }>();
  return async (c, next) => {
    const token = bearer(c.req.header("authorization"));
    if (!token) throw new Unauthorized("a builder token is required");
    const hash = hashToken(token);
    const now = Date.now();
    let entry = cacheMs > 0 ? cache.get(hash) : undefined;
    if (!entry || now - entry.at >= cacheMs) {
      const row = await db.query.builders.findFirst({ where: eq(builders.tokenHash, hash) });
      entry = row && { builder: row, at: now };
      if (cacheMs > 0) {
        if (cache.size >= 10_000) cache.clear();
        if (entry) cache.set(hash, entry);
        else cache.delete(hash);
      }
    }
    if (!entry) throw new Unauthorized("unknown builder token");
    const row = entry.builder;
    if (row.revokedAt) throw new Forbidden("this builder was revoked by an administrator");
    c.set("builder", row);
    await next();
  };
};

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** An org admin, with a token scoped `admin` (or `read` for an admin-only read, e.g. the audit log). */
export function requireAdmin(user: User, need: "read" | "admin" = "admin"): void {
  if (user.role !== "admin") throw new Forbidden("only administrators can do this");
  requireScope(user, need);
}
