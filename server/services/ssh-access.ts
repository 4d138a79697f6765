// Who may SSH into a build: a user whose registered key offered the fingerprint and who may write
// to the job's project (an org admin, or a project member with the write or admin role).
import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { jobs, projectMembers, userSshKeys, users } from "../db/schema.ts";

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

/**
 * The builder's round of questions about its open SSH connections: for each `{job, fingerprint}`,
 * in order, the key's user while they may still enter the job, else null. A job this builder no
 * longer holds, that has ended, or that was not re-run with SSH lets no one in.
 */
export async function sshUsersStill(
  db: Db,
  builderId: string,
  asks: { jobId: string; fingerprint: string }[],
): Promise<({ id: string; login: string } | null)[]> {
  const projectOf = new Map<string, string | null>();
  const out: ({ id: string; login: string } | null)[] = [];
  for (const { jobId, fingerprint } of asks) {
    if (!projectOf.has(jobId)) {
      const job = await db.query.jobs.findFirst({
        where: eq(jobs.id, jobId),
        columns: { builderId: true, status: true, sshEnabled: true, projectId: true },
      });
      const open = job?.builderId === builderId && job.sshEnabled && job.status === "running";
      projectOf.set(jobId, open ? job.projectId : null);
    }
    const projectId = projectOf.get(jobId);
    out.push(projectId ? await sshUserFor(db, fingerprint, projectId) : null);
  }
  return out;
}
