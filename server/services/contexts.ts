// Contexts: named groups of secrets a workflow selects (`context: [name]`). Made and deleted by org
// admins; deleting one deletes its variables and restrictions (services/context-restrictions.ts).
import { asc, eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { contextEnvVars, contextRestrictions, contexts } from "../db/schema.ts";
import { Conflict, NotFound } from "../errors.ts";
import { audit, byUser, type Requester } from "./audit.ts";
import { newId } from "./ids.ts";

export type CiContext = typeof contexts.$inferSelect;

export async function findContext(db: Db, id: string): Promise<CiContext> {
  const row = await db.query.contexts.findFirst({ where: eq(contexts.id, id) });
  if (!row) throw new NotFound("context", id);
  return row;
}

export function listContexts(db: Db): Promise<CiContext[]> {
  return db.select().from(contexts).orderBy(asc(contexts.name));
}

export async function createContext(db: Db, name: string, by: Requester): Promise<CiContext> {
  return db.transaction(async (tx) => {
    const existing = await tx.query.contexts.findFirst({ where: eq(contexts.name, name) });
    if (existing)
      throw new Conflict(`a context named ${name} already exists`, { id: existing.id }, "context_exists");
    const [created] = await tx.insert(contexts).values({ id: newId(), name }).returning();
    await audit(tx, {
      actor: byUser(by),
      action: "context.created",
      target: { type: "context", id: created.id },
      ip: by.ip,
      details: { name },
    });
    return created;
  });
}

/** Deletes the context with every variable and restriction in it. */
export async function deleteContext(db: Db, id: string, by: Requester): Promise<void> {
  const ctx = await findContext(db, id);
  await db.transaction(async (tx) => {
    const vars = await tx.delete(contextEnvVars).where(eq(contextEnvVars.contextId, ctx.id));
    await tx.delete(contextRestrictions).where(eq(contextRestrictions.contextId, ctx.id));
    const r = await tx.delete(contexts).where(eq(contexts.id, ctx.id));
    if (r.rowsAffected !== 1) throw new NotFound("context", ctx.id);
    await audit(tx, {
      actor: byUser(by),
      action: "context.deleted",
      target: { type: "context", id: ctx.id },
      ip: by.ip,
      details: { name: ctx.name, env_vars_deleted: vars.rowsAffected },
    });
  });
}
