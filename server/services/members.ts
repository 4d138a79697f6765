// Project members and their roles (read < write < admin); managed by the project's admins and org admins.
import { and, asc, eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { projectMembers, users } from "../db/schema.ts";
import { NotFound } from "../errors.ts";
import type { ProjectRole } from "./access.ts";
import { audit, byUser, type Requester } from "./audit.ts";

export function membersOf(db: Db, projectId: string) {
  return db
    .select({
      userId: projectMembers.userId,
      login: users.login,
      role: projectMembers.role,
      createdAt: projectMembers.createdAt,
    })
    .from(projectMembers)
    .innerJoin(users, eq(users.id, projectMembers.userId))
    .where(eq(projectMembers.projectId, projectId))
    .orderBy(asc(users.login));
}

/** Adds a member, or changes their role; `added` is false for a change. */
export async function setMember(
  db: Db,
  projectId: string,
  userId: string,
  role: ProjectRole,
  by: Requester,
): Promise<{ login: string; added: boolean }> {
  const user = await db.query.users.findFirst({ where: eq(users.id, userId) });
  if (!user) throw new NotFound("user", userId);
  const existing = await db.query.projectMembers.findFirst({
    where: and(eq(projectMembers.projectId, projectId), eq(projectMembers.userId, userId)),
  });
  await db.transaction(async (tx) => {
    await tx
      .insert(projectMembers)
      .values({ projectId, userId, role })
      .onConflictDoUpdate({ target: [projectMembers.projectId, projectMembers.userId], set: { role } });
    await audit(tx, {
      actor: byUser(by),
      action: "member.added",
      target: { type: "project", id: projectId },
      ip: by.ip,
      details: { user_id: userId, login: user.login, role, previous_role: existing?.role ?? null },
    });
  });
  return { login: user.login, added: !existing };
}

/** Removes a member; the caller asks the StreamGuard to recheck after this commits. */
export async function removeMember(db: Db, projectId: string, userId: string, by: Requester): Promise<void> {
  const where = and(eq(projectMembers.projectId, projectId), eq(projectMembers.userId, userId));
  const existing = await db.query.projectMembers.findFirst({ where });
  if (!existing) throw new NotFound("member", userId);
  await db.transaction(async (tx) => {
    await tx.delete(projectMembers).where(where);
    await audit(tx, {
      actor: byUser(by),
      action: "member.removed",
      target: { type: "project", id: projectId },
      ip: by.ip,
      details: { user_id: userId, role: existing.role },
    });
  });
}
