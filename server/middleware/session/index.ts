// Browser sessions for the web UI. EventSource and WebSocket cannot send an Authorization header,
// so a browser trades an API token for an httpOnly, SameSite=Strict cookie holding a random session
// id (only its hash is stored). Cookie-authenticated writes must also carry `X-Cairn-CSRF`, a value
// derived from the session id that only a page which read it from the API can know (double submit).
import { and, eq, gt, isNull, lt, or } from "drizzle-orm";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import nacl from "tweetnacl";
import { toBase64Url } from "../../../protocol/encoding.ts";
import type { Db, DbOrTx } from "../../db/client.ts";
import { apiTokens, sessions, users } from "../../db/schema.ts";
import { Forbidden } from "../../errors.ts";
import { hashToken, newToken, tokensEqual } from "../../secrets/index.ts";

export const SESSION_COOKIE = "cairn_session";
export const CSRF_HEADER = "x-cairn-csrf";
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

type UserRow = typeof users.$inferSelect;

/** The CSRF value of a session: a hash of its secret id, so it needs no storage and leaks nothing. */
export function csrfFor(sessionId: string): string {
  return toBase64Url(nacl.hash(new TextEncoder().encode(`cairn-csrf:${sessionId}`)).subarray(0, 32));
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The user behind a valid, unrevoked, unexpired API token, or null. */
export async function userForApiToken(
  db: Db,
  token: string,
  now = Date.now(),
): Promise<{ user: UserRow; scopes: string[]; tokenId: string } | null> {
  const row = await db
    .select({
      id: apiTokens.id,
      user: users,
      scopes: apiTokens.scopes,
      expiresAt: apiTokens.expiresAt,
      revokedAt: apiTokens.revokedAt,
    })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .where(eq(apiTokens.tokenHash, hashToken(token)))
    .get();
  if (!row || row.revokedAt !== null || (row.expiresAt !== null && row.expiresAt < now)) return null;
  return { user: row.user, scopes: row.scopes.split(","), tokenId: row.id };
}

export interface NewSession {
  id: string;
  csrf: string;
  expiresAt: number;
}

export async function createSession(
  db: DbOrTx,
  userId: string,
  now = Date.now(),
  scopes: string[] = ["admin"],
  /** The API token traded for the session: revoking it ends the session (services/revocation.ts). */
  tokenId: string | null = null,
): Promise<NewSession> {
  const id = newToken("cairn_ses");
  const expiresAt = now + SESSION_TTL_MS;
  // Sign-ins are rare: a good moment to forget sessions that have expired.
  await db.delete(sessions).where(lt(sessions.expiresAt, now));
  await db
    .insert(sessions)
    .values({ idHash: hashToken(id), userId, createdAt: now, expiresAt, scopes: scopes.join(","), tokenId });
  return { id, csrf: csrfFor(id), expiresAt };
}

export function setSessionCookie(c: Context, session: NewSession, secure: boolean): void {
  setCookie(c, SESSION_COOKIE, session.id, {
    httpOnly: true,
    sameSite: "Strict",
    secure,
    path: "/",
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  });
}

export function clearSessionCookie(c: Context, secure: boolean): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", secure, httpOnly: true, sameSite: "Strict" });
}

export interface SessionUser {
  sessionId: string;
  /** The stored hash of the session id: how streams and revocation name the session. */
  idHash: string;
  user: UserRow;
  expiresAt: number;
  /** What the session may do within its user's role (services/access.ts). */
  scopes: string[];
}

/**
 * The live session named by the request's cookie, or null (no cookie, unknown or expired). A session
 * made from an API token lives only while that token does: revoked or expired, the session is too.
 */
export async function sessionFromCookie(c: Context, db: Db, now = Date.now()): Promise<SessionUser | null> {
  const id = getCookie(c, SESSION_COOKIE);
  if (!id) return null;
  const idHash = hashToken(id);
  const row = await db
    .select({ user: users, expiresAt: sessions.expiresAt, scopes: sessions.scopes })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .leftJoin(apiTokens, eq(apiTokens.id, sessions.tokenId))
    .where(and(eq(sessions.idHash, idHash), gt(sessions.expiresAt, now), liveSessionToken(now)))
    .get();
  return row
    ? { sessionId: id, idHash, user: row.user, expiresAt: row.expiresAt, scopes: row.scopes.split(",") }
    : null;
}

/** For a query joining `sessions` to `api_tokens` on `token_id`: the session's token, if any, still holds. */
export function liveSessionToken(now: number) {
  return or(
    isNull(sessions.tokenId),
    and(isNull(apiTokens.revokedAt), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, now))),
  );
}

/** Refuses a cookie-authenticated write without the session's CSRF header. */
export function checkCsrf(c: Context, sessionId: string): void {
  if (SAFE_METHODS.has(c.req.method)) return;
  const sent = c.req.header(CSRF_HEADER);
  if (!sent || !tokensEqual(sent, csrfFor(sessionId))) {
    throw new Forbidden(`a cookie-authenticated ${c.req.method} needs the session's ${CSRF_HEADER} header`);
  }
}

export async function deleteSession(db: Db, sessionId: string): Promise<void> {
  await db.delete(sessions).where(eq(sessions.idHash, hashToken(sessionId)));
}
