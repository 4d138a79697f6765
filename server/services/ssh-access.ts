// Who may SSH into a build: a user whose registered key offered the fingerprint and who may write
// to the job's project (an org admin, or a project member with the write or admin role).
import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { projectMembers, userSshKeys, users } from "../db/schema.ts";

export async function canWriteProject(
  db: Db,
  user: { id: string; role: string },
  projectId: string,
): Promise<boolean> {
  if (user.role === "admin") return true;
  const member = await db
    .select({ role: projectMembers.role })
    .from(projectMembers)
    .where(
      and(
        eq(projectMembers.projectId, projectId),
        eq(projectMembers.userId, user.id),
        inArray(projectMembers.role, ["admin", "write"]),
      ),
    )
    .get();
  return Boolean(member);
}

/** The user who owns this key fingerprint, if they may write to the project. */
export async function sshUserFor(
  db: Db,
  fingerprint: string,
  projectId: string,
): Promise<{ id: string; login: string } | null> {
  const row = await db
    .select({ id: users.id, login: users.login, role: users.role })
    .from(userSshKeys)
    .innerJoin(users, eq(users.id, userSshKeys.userId))
    .where(eq(userSshKeys.fingerprint, fingerprint))
    .get();
  if (!row || !(await canWriteProject(db, row, projectId))) return null;
  return { id: row.id, login: row.login };
}
