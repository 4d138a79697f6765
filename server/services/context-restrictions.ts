// Restricted contexts, as CircleCI has them: a context restricted to projects gives its secrets only
// to jobs of those projects, and only when every expression restriction holds for the job's
// pipeline. Reading a context's variable names (or restrictions) needs org admin, or a role in a
// project the context is restricted to; an unrestricted context's names are for admins only.
import { and, asc, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { contextRestrictions, contexts, jobs, pipelines, projectMembers, projects } from "../db/schema.ts";
import { BadRequest, Conflict, NotFound } from "../errors.ts";
import { SecretsError } from "../secrets/index.ts";
import { type Actor, scopeRank } from "./access.ts";
import { audit } from "./audit.ts";
import { newId } from "./ids.ts";
import { ExpressionError, evaluate, parseExpression, type Values } from "./restriction-expression.ts";

export type Restriction = typeof contextRestrictions.$inferSelect;
/** A job's pipeline values, and whether its code came from a fork (which no restricted context trusts). */
export type JobValues = Values & { fromFork?: boolean };
export const RESTRICTION_TYPES = ["project", "expression"] as const;

/** A job names a context its project or pipeline may not use: it fails before it starts. */
export class ContextRestrictedError extends SecretsError {
  constructor(context: string, why: string) {
    super("context_restricted", `context ${context} may not be used here: ${why}`, 403, { context });
  }
}

export async function restrictionsOf(db: Db, contextIds: string[]): Promise<Restriction[]> {
  if (contextIds.length === 0) return [];
  return db
    .select()
    .from(contextRestrictions)
    .where(inArray(contextRestrictions.contextId, contextIds))
    .orderBy(asc(contextRestrictions.createdAt), asc(contextRestrictions.id));
}

/** Throws ContextRestrictedError unless the project (and pipeline values) may use every context. */
export async function checkContextUse(
  db: Db,
  used: { id: string; name: string }[],
  projectId: string,
  values: JobValues,
): Promise<void> {
  const rows = await restrictionsOf(
    db,
    used.map((c) => c.id),
  );
  for (const ctx of used) {
    const mine = rows.filter((r) => r.contextId === ctx.id);
    // A restriction says who may use it; the author of a fork's code is none of them.
    if (values.fromFork && mine.length > 0)
      throw new ContextRestrictedError(ctx.name, "it is restricted, and this job runs a fork's pull request");
    const allowed = mine.filter((r) => r.restrictionType === "project").map((r) => r.restrictionValue);
    if (allowed.length > 0 && !allowed.includes(projectId))
      throw new ContextRestrictedError(ctx.name, "it is restricted to other projects");
    for (const r of mine.filter((r) => r.restrictionType === "expression")) {
      let ok = false;
      try {
        ok = evaluate(parseExpression(r.restrictionValue), values);
      } catch {}
      if (!ok) {
        const ref = values.tag ? `tag ${values.tag}` : `branch ${values.branch ?? "(none)"}`;
        throw new ContextRestrictedError(ctx.name, `${ref} does not satisfy ${r.restrictionValue}`);
      }
    }
  }
}

/** The branch and tag of a job's pipeline, for expression restrictions. */
export async function jobValues(db: Db, jobId: string): Promise<JobValues> {
  const row = await db
    .select({ branch: pipelines.branch, tag: pipelines.tag, fromFork: pipelines.fromFork })
    .from(jobs)
    .innerJoin(pipelines, eq(pipelines.id, jobs.pipelineId))
    .where(eq(jobs.id, jobId))
    .get();
  return { branch: row?.branch ?? null, tag: row?.tag ?? null, fromFork: row?.fromFork ?? false };
}

/** May the user read the context's variable names and restrictions? */
export async function canReadContext(db: Db, user: Actor, contextId: string): Promise<boolean> {
  if (scopeRank(user) < 1) return false;
  if (user.role === "admin") return true;
  const allowed = (await restrictionsOf(db, [contextId]))
    .filter((r) => r.restrictionType === "project")
    .map((r) => r.restrictionValue);
  if (allowed.length === 0) return false;
  const member = await db
    .select({ p: projectMembers.projectId })
    .from(projectMembers)
    .where(and(eq(projectMembers.userId, user.id), inArray(projectMembers.projectId, allowed)))
    .get();
  return member !== undefined;
}

export async function addRestriction(
  db: Db,
  actor: { id: string },
  contextId: string,
  input: { restriction_type: string; restriction_value: string },
  ip: string | null,
): Promise<Restriction> {
  const type = input.restriction_type as Restriction["restrictionType"];
  const value = input.restriction_value.trim();
  if (type === "project") {
    const project = await db.query.projects.findFirst({ where: eq(projects.id, value) });
    if (!project) throw new BadRequest(`no project ${value}`, { field: "restriction_value" }, "invalid_body");
  } else {
    try {
      parseExpression(value);
    } catch (e) {
      if (!(e instanceof ExpressionError)) throw e;
      throw new BadRequest(
        `the expression is not valid: ${e.message}`,
        { field: "restriction_value" },
        "invalid_body",
      );
    }
  }
  return db.transaction(async (tx) => {
    const ctx = await tx.query.contexts.findFirst({ where: eq(contexts.id, contextId) });
    if (!ctx) throw new NotFound("context", contextId);
    const [row] = await tx
      .insert(contextRestrictions)
      .values({ id: newId(), contextId, restrictionType: type, restrictionValue: value })
      .onConflictDoNothing()
      .returning();
    if (!row)
      throw new Conflict(
        "the context already has this restriction",
        { context: contextId },
        "restriction_exists",
      );
    await audit(tx, {
      actor: { type: "user", id: actor.id },
      action: "context.restriction_added",
      target: { type: "context", id: contextId },
      ip,
      details: {
        context: ctx.name,
        restriction_id: row.id,
        restriction_type: type,
        restriction_value: value,
      },
    });
    return row;
  });
}

export async function removeRestriction(
  db: Db,
  actor: { id: string },
  contextId: string,
  restrictionId: string,
  ip: string | null,
): Promise<void> {
  await db.transaction(async (tx) => {
    const where = and(
      eq(contextRestrictions.id, restrictionId),
      eq(contextRestrictions.contextId, contextId),
    );
    const row = await tx.query.contextRestrictions.findFirst({ where });
    if (!row) throw new NotFound("restriction", restrictionId);
    await tx.delete(contextRestrictions).where(where);
    await audit(tx, {
      actor: { type: "user", id: actor.id },
      action: "context.restriction_removed",
      target: { type: "context", id: contextId },
      ip,
      details: {
        restriction_id: row.id,
        restriction_type: row.restrictionType,
        restriction_value: row.restrictionValue,
      },
    });
  });
}
