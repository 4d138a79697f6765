// The audit log: one append-only row per security event (the table's triggers refuse UPDATE and
// DELETE). Details name things — a secret's name, a token's id — never a value or a token.
import { and, desc, eq, gte, lt, type SQL } from "drizzle-orm";
import type { AuditAction } from "../../protocol/audit-actions.ts";
import type { Db, DbOrTx } from "../db/client.ts";
import { auditEvents } from "../db/schema.ts";

/** A database or an open transaction: an event is written in the same transaction as its change. */
export type { DbOrTx };

export interface AuditActor {
  type: "user" | "builder" | "system";
  id?: string | null;
}

/** The signed-in user a change is made for, and where their request came from: the audit event's actor and ip. */
export interface Requester {
  userId: string;
  ip: string | null;
}

/** The audit actor of a requester. */
export const byUser = (by: Requester): AuditActor => ({ type: "user", id: by.userId });

export interface AuditEntry {
  actor: AuditActor;
  action: AuditAction;
  target?: { type: string; id: string };
  ip?: string | null;
  details?: Record<string, unknown>;
}

export async function audit(db: DbOrTx, entry: AuditEntry): Promise<void> {
  await db.insert(auditEvents).values({
    actorType: entry.actor.type,
    actorId: entry.actor.id ?? null,
    action: entry.action,
    targetType: entry.target?.type ?? null,
    targetId: entry.target?.id ?? null,
    ip: entry.ip ?? null,
    details: JSON.stringify(entry.details ?? {}),
  });
}

export type AuditRow = typeof auditEvents.$inferSelect;

export interface AuditQuery {
  action?: string;
  actorType?: AuditActor["type"];
  actorId?: string;
  /** Only events at or after this time (ms since the epoch). */
  since?: number;
  /** Events older than this id (the previous page's `next_cursor`). */
  before?: number;
  limit: number;
}

/** Newest first; `next` is the cursor of the following page, or null at the end. */
export async function listAudit(db: Db, q: AuditQuery): Promise<{ rows: AuditRow[]; next: number | null }> {
  const where: SQL[] = [];
  if (q.action) where.push(eq(auditEvents.action, q.action));
  if (q.actorType) where.push(eq(auditEvents.actorType, q.actorType));
  if (q.actorId) where.push(eq(auditEvents.actorId, q.actorId));
  if (q.since !== undefined) where.push(gte(auditEvents.at, q.since));
  if (q.before !== undefined) where.push(lt(auditEvents.id, q.before));
  const rows = await db
    .select()
    .from(auditEvents)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(auditEvents.id))
    .limit(q.limit + 1);
  const more = rows.length > q.limit;
  if (more) rows.pop();
  return { rows, next: more ? rows[rows.length - 1].id : null };
}
