// Personal API tokens: shown once when created, only their hash kept; scopes `read` / `write` /
// `admin` cap what the owner's role allows; optional expiry; revoking one makes it 401 at once.
import { and, asc, eq, gt } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { apiTokens } from "../db/schema.ts";
import { BadRequest, NotFound } from "../errors.ts";
import { hashToken, newToken } from "../secrets/index.ts";
import type { ProjectRole } from "./access.ts";
import { audit, byUser, type Requester } from "./audit.ts";
import { iso, newId } from "./ids.ts";
import { revokeToken } from "./revocation.ts";

export type ApiToken = typeof apiTokens.$inferSelect;

/** An ISO 8601 expiry in the future as ms, or null for none. */
export function readExpiry(v: string | null | undefined, now: number): number | null {
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

/** A new token of the requester's; the token itself is returned this once. */
export async function createToken(
  db: Db,
  input: { name: string; scopes: ProjectRole[]; expiresAt: number | null },
  by: Requester,
): Promise<{ row: ApiToken; token: string }> {
  const token = newToken("cairn_pat");
  const id = newId();
  const { name, scopes, expiresAt } = input;
  const row = await db.transaction(async (tx) => {
    const [row] = await tx
      .insert(apiTokens)
      .values({
        id,
        userId: by.userId,
        name,
        tokenHash: hashToken(token),
        scopes: scopes.join(","),
        expiresAt,
      })
      .returning();
    await audit(tx, {
      actor: byUser(by),
      action: "token.created",
      target: { type: "api_token", id },
      ip: by.ip,
      details: { name, scopes, expires_at: iso(expiresAt), kind: "api" },
    });
    return row;
  });
  return { row, token };
}

/** A user's tokens by id, after `after`. */
export function tokensOf(db: Db, userId: string, q: { after?: string; limit: number }): Promise<ApiToken[]> {
  const mine = eq(apiTokens.userId, userId);
  return db
    .select()
    .from(apiTokens)
    .where(q.after ? and(mine, gt(apiTokens.id, q.after)) : mine)
    .orderBy(asc(apiTokens.id))
    .limit(q.limit);
}

/** Revokes one of the requester's own tokens (404 for anyone else's); revoking twice is a no-op. */
export async function revokeOwnToken(db: Db, id: string, by: Requester): Promise<void> {
  const row = await db.query.apiTokens.findFirst({
    where: and(eq(apiTokens.id, id), eq(apiTokens.userId, by.userId)),
  });
  if (!row) throw new NotFound("token", id);
  if (row.revokedAt !== null) return;
  await db.transaction(async (tx) => {
    await revokeToken(tx, id);
    await audit(tx, {
      actor: byUser(by),
      action: "token.revoked",
      target: { type: "api_token", id },
      ip: by.ip,
      details: { name: row.name },
    });
  });
}
