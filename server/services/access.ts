// Who may do what: org admins (users.role = admin) everything; others per project through
// project_members (read < write < admin). A token's scopes cap the user's role, never raise it.
// A project the user cannot read answers 404 like a missing one, so its existence does not leak.
import { eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { jobs, pipelines, projectMembers, projects, workflows } from "../db/schema.ts";
import { Forbidden, NotFound } from "../errors.ts";

export const PROJECT_ROLES = ["read", "write", "admin"] as const;
export type ProjectRole = (typeof PROJECT_ROLES)[number];

const RANK: Record<string, number> = { read: 1, write: 2, admin: 3 };

export interface Actor {
  id: string;
  role: string;
  scopes: string[];
}

/** The highest scope a token (or session) holds: what the user's role is capped at. */
export function scopeRank(user: Pick<Actor, "scopes">): number {
  return Math.max(0, ...user.scopes.map((s) => RANK[s] ?? 0));
}

/** Refuses a request whose token's scopes are below `need` (403). */
export function requireScope(user: Pick<Actor, "scopes">, need: ProjectRole): void {
  if (scopeRank(user) < RANK[need]) {
    throw new Forbidden(`this token's scopes (${user.scopes.join(",")}) do not allow ${need} access`);
  }
}

/** The user's own role in a project, before scopes: null when they are not a member. */
export async function memberRole(
  db: Db,
  user: Pick<Actor, "id" | "role">,
  projectId: string,
): Promise<ProjectRole | null> {
  if (user.role === "admin") return "admin";
  const row = await db.query.projectMembers.findFirst({
    where: (m, { and }) => and(eq(m.projectId, projectId), eq(m.userId, user.id)),
  });
  return row?.role ?? null;
}

/** Ids of the projects a user may read; null means every project (an org admin). */
export async function readableProjectIds(
  db: Db,
  user: Pick<Actor, "id" | "role" | "scopes">,
): Promise<string[] | null> {
  if (scopeRank(user) < RANK.read) return [];
  if (user.role === "admin") return null;
  const rows = await db
    .select({ id: projectMembers.projectId })
    .from(projectMembers)
    .where(eq(projectMembers.userId, user.id));
  return rows.map((r) => r.id);
}

type ProjectRow = typeof projects.$inferSelect;

/** The project, if the user holds `need` in it: 404 when they cannot read it, 403 when they can but not enough. */
export async function requireProjectRole(
  deps: { db: Db },
  user: Actor,
  projectId: string,
  need: ProjectRole,
): Promise<ProjectRow> {
  const project = await deps.db.query.projects.findFirst({ where: eq(projects.id, projectId) });
  const role = project ? await memberRole(deps.db, user, projectId) : null;
  if (!project || !role || scopeRank(user) < RANK.read) throw new NotFound("project", projectId);
  if (RANK[role] < RANK[need]) throw new Forbidden(`this needs the ${need} role in the project`);
  requireScope(user, need);
  return project;
}

/** A job, checked against its project's role (404 for a job in a project the user cannot read). */
export async function requireJobRole(deps: { db: Db }, user: Actor, jobId: string, need: ProjectRole) {
  const job = await deps.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
  if (!job) throw new NotFound("job", jobId);
  await hideAs("job", jobId, requireProjectRole(deps, user, job.projectId, need));
  return job;
}

export async function requirePipelineRole(
  deps: { db: Db },
  user: Actor,
  pipelineId: string,
  need: ProjectRole,
) {
  const p = await deps.db.query.pipelines.findFirst({ where: eq(pipelines.id, pipelineId) });
  if (!p) throw new NotFound("pipeline", pipelineId);
  await hideAs("pipeline", pipelineId, requireProjectRole(deps, user, p.projectId, need));
  return p;
}

export async function requireWorkflowRole(
  deps: { db: Db },
  user: Actor,
  workflowId: string,
  need: ProjectRole,
) {
  const wf = await deps.db.query.workflows.findFirst({ where: eq(workflows.id, workflowId) });
  const p = wf
    ? await deps.db.query.pipelines.findFirst({ where: eq(pipelines.id, wf.pipelineId) })
    : undefined;
  if (!wf || !p) throw new NotFound("workflow", workflowId);
  await hideAs("workflow", workflowId, requireProjectRole(deps, user, p.projectId, need));
  return wf;
}

/** A hidden project's 404 names the thing asked for, not the project behind it. */
async function hideAs(what: string, id: string, check: Promise<unknown>): Promise<void> {
  try {
    await check;
  } catch (err) {
    if (err instanceof NotFound) throw new NotFound(what, id);
    throw err;
  }
}
