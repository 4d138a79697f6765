// Taking authority away, at once and everywhere it was handed on: a revoked token ends the sessions
// made from it; a user who is removed or stops being an org admin loses every session (they sign
// in again under their new role). Requests check roles and memberships live (services/access.ts);
// open streams are ended by the StreamGuard, which the caller asks to recheck after the commit.
import { eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { apiTokens, projectMembers, sessions, userSshKeys, users } from "../db/schema.ts";
import { Conflict, NotFound } from "../errors.ts";
import { audit, type DbOrTx } from "./audit.ts";

type Writer = DbOrTx;

/** Revokes an API token and ends the sessions that were made from it. */
export async function revokeToken(tx: Writer, tokenId: string, now = Date.now()): Promise<void> {
  await tx.update(apiTokens).set({ revokedAt: now }).where(eq(apiTokens.id, tokenId));
  await tx.delete(sessions).where(eq(sessions.tokenId, tokenId));
}

/** Ends every session of a user (role lowered, user removed). */
export async function endUserSessions(tx: Writer, userId: string): Promise<void> {
  await tx.delete(sessions).where(eq(sessions.userId, userId));
}

/**
 * Removes a user: their tokens are revoked, sessions ended, memberships and SSH keys deleted, and the
 * row itself deleted (the audit log keeps their id). The last org admin cannot be removed.
 */
export async function removeUser(
  db: Db,
  actor: { id: string },
  userId: string,
  ip: string | null,
): Promise<void> {
  await db.transaction(async (tx) => {
    const user = await tx.query.users.findFirst({ where: eq(users.id, userId) });
    if (!user) throw new NotFound("user", userId);
    if (user.role === "admin") {
      const admins = await tx.select({ id: users.id }).from(users).where(eq(users.role, "admin"));
      if (admins.length <= 1)
        throw new Conflict("the last admin cannot be removed", { user: userId }, "last_admin");
    }
    const tokens = await tx.select({ id: apiTokens.id }).from(apiTokens).where(eq(apiTokens.userId, userId));
    await endUserSessions(tx, userId);
    await tx.delete(apiTokens).where(eq(apiTokens.userId, userId));
    await tx.delete(projectMembers).where(eq(projectMembers.userId, userId));
    await tx.delete(userSshKeys).where(eq(userSshKeys.userId, userId));
    await tx.delete(users).where(eq(users.id, userId));
    await audit(tx, {
      actor: { type: "user", id: actor.id },
      action: "user.removed",
      target: { type: "user", id: userId },
      ip,
      details: { login: user.login, role: user.role, tokens_revoked: tokens.length },
    });
  });
}
