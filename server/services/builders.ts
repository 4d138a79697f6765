// The fleet: one-time registration tokens, builders registering with one (their NaCl public key
// recorded), the admin's list with what each runs, and revocation. Each write audits itself.
import { and, asc, eq, gt, inArray, isNotNull, isNull, or } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { builders, jobs, registrationTokens } from "../db/schema.ts";
import { BadRequest, NotFound, Unauthorized } from "../errors.ts";
import { builderKeyFingerprint, hashToken, newToken } from "../secrets/index.ts";
import { audit, byUser, type DbOrTx, type Requester } from "./audit.ts";
import { iso, newId } from "./ids.ts";

export type Builder = typeof builders.$inferSelect;

const REGISTRATION_TTL_MS = 24 * 60 * 60 * 1000;

/** A one-time token a builder presents to register; only its hash is kept (scripts/start.ts makes one unaudited). */
export async function createRegistrationToken(
  db: DbOrTx,
  createdBy: string,
): Promise<{ id: string; token: string; expiresAt: number }> {
  const token = newToken("cairn_reg");
  const expiresAt = Date.now() + REGISTRATION_TTL_MS;
  const id = newId();
  await db.insert(registrationTokens).values({ id, tokenHash: hashToken(token), createdBy, expiresAt });
  return { id, token, expiresAt };
}

/** A registration token an admin asked for, audited in the same transaction. */
export async function issueRegistrationToken(
  db: Db,
  by: Requester,
): Promise<{ token: string; expiresAt: number }> {
  return db.transaction(async (tx) => {
    const { id, token, expiresAt } = await createRegistrationToken(tx, by.userId);
    await audit(tx, {
      actor: byUser(by),
      action: "token.created",
      target: { type: "registration_token", id },
      ip: by.ip,
      details: { kind: "registration", expires_at: iso(expiresAt) },
    });
    return { token, expiresAt };
  });
}

export interface Registration {
  registrationToken: string;
  name: string;
  /** The builder's NaCl box public key, base64: job secrets are sealed to it. */
  publicKey: string;
  slots: number;
  driver: Builder["driver"];
}

/** Registers a builder with a one-time token (401 if unknown, used or expired); its token is returned this once. */
export async function registerBuilder(
  db: Db,
  r: Registration,
  ip: string | null,
): Promise<{ id: string; token: string }> {
  // Refuse a key that is not a 32-byte NaCl box public key now, not at the first job.
  let keyFingerprint: string;
  try {
    keyFingerprint = builderKeyFingerprint(r.publicKey);
  } catch {
    throw new BadRequest(
      "`public_key` must be a 32-byte NaCl box public key in base64",
      { field: "public_key" },
      "invalid_body",
    );
  }
  const now = Date.now();
  const tokenHash = hashToken(r.registrationToken);
  // Claim the one-time token atomically: a second registration with it finds usedAt set.
  const claimed = await db
    .update(registrationTokens)
    .set({ usedAt: now })
    .where(
      and(
        eq(registrationTokens.tokenHash, tokenHash),
        isNull(registrationTokens.usedAt),
        gt(registrationTokens.expiresAt, now),
      ),
    );
  if (claimed.rowsAffected !== 1)
    throw new Unauthorized("the registration token is unknown, used or expired");
  const token = newToken("cairn_bld");
  const id = newId();
  const claim = await db.query.registrationTokens.findFirst({
    where: eq(registrationTokens.tokenHash, tokenHash),
  });
  const { name, publicKey, slots, driver } = r;
  await db.transaction(async (tx) => {
    await tx.insert(builders).values({ id, name, tokenHash: hashToken(token), publicKey, slots, driver });
    await audit(tx, {
      actor: { type: "builder", id },
      action: "builder.registered",
      target: { type: "builder", id },
      ip,
      details: {
        name,
        driver,
        slots,
        key_fingerprint: keyFingerprint,
        registration_token_id: claim?.id ?? null,
        registration_token_created_by: claim?.createdBy ?? null,
      },
    });
  });
  return { id, token };
}

/** A builder's leased job, as the admin's list shows it. */
export interface RunningJob {
  id: string;
  name: string;
  builderId: string | null;
  projectId: string;
  pipelineId: string;
  sliceIndex: number;
  sliceTotal: number;
  startedAt: number | null;
}

/**
 * Builders oldest first, after the cursor `<created_at>.<id>` (400 for one this list did not give
 * out), each with the jobs it is running now (one query for the page).
 */
export async function listBuilders(
  db: Db,
  q: { after?: string; limit: number },
): Promise<{ rows: Builder[]; running: RunningJob[] }> {
  const m = q.after === undefined ? null : /^(\d{1,15})\.(.+)$/.exec(q.after);
  if (q.after !== undefined && !m)
    throw new BadRequest("`cursor` is not a cursor this list gave out", { field: "cursor" }, "invalid_query");
  const rows = await db
    .select()
    .from(builders)
    .where(
      m
        ? or(
            gt(builders.createdAt, Number(m[1])),
            and(eq(builders.createdAt, Number(m[1])), gt(builders.id, m[2])),
          )
        : undefined,
    )
    .orderBy(asc(builders.createdAt), asc(builders.id))
    .limit(q.limit);
  const running = rows.length
    ? await db
        .select({
          id: jobs.id,
          name: jobs.name,
          builderId: jobs.builderId,
          projectId: jobs.projectId,
          pipelineId: jobs.pipelineId,
          sliceIndex: jobs.sliceIndex,
          sliceTotal: jobs.sliceTotal,
          startedAt: jobs.startedAt,
        })
        .from(jobs)
        .where(
          and(
            eq(jobs.status, "running"),
            inArray(
              jobs.builderId,
              rows.map((b) => b.id),
            ),
          ),
        )
        .orderBy(asc(jobs.startedAt))
    : [];
  return { rows, running };
}

/**
 * Revokes a builder (404 if unknown): the builder if this call revoked it, null if it already was.
 * The caller then has the scheduler re-queue what it was running.
 */
export async function revokeBuilder(db: Db, id: string, by: Requester): Promise<Builder | null> {
  const builder = await db.query.builders.findFirst({ where: eq(builders.id, id) });
  if (!builder) throw new NotFound("builder", id);
  return db.transaction(async (tx) => {
    const r = await tx
      .update(builders)
      .set({ revokedAt: Date.now() })
      .where(and(eq(builders.id, id), isNull(builders.revokedAt)));
    if (r.rowsAffected !== 1) return null;
    await audit(tx, {
      actor: byUser(by),
      action: "builder.revoked",
      target: { type: "builder", id },
      ip: by.ip,
      details: { name: builder.name },
    });
    return builder;
  });
}

/** Of these builder ids, those revoked here (a shared host's reaper may remove their sandboxes). */
export async function revokedAmong(db: Db, ids: string[]): Promise<string[]> {
  if (!ids.length) return [];
  const rows = await db
    .select({ id: builders.id })
    .from(builders)
    .where(and(inArray(builders.id, ids), isNotNull(builders.revokedAt)));
  return rows.map((r) => r.id);
}

/** Records that a builder asked for work, and where its SSH server listens (null: none). */
export async function builderAcquiring(db: Db, id: string, sshEndpoint: string | null): Promise<void> {
  await db.update(builders).set({ lastSeenAt: Date.now(), sshEndpoint }).where(eq(builders.id, id));
}

/**
 * A builder heartbeats each of its jobs; its "last seen" needs a write once a second, not per job
 * (each write is a commit, and the database runs on the server's thread).
 */
export class LastSeen {
  private written = new Map<string, number>();
  constructor(
    private readonly db: Db,
    private readonly everyMs = 1000,
  ) {}

  async heard(builderId: string, now = Date.now()): Promise<void> {
    if (now - (this.written.get(builderId) ?? 0) < this.everyMs) return;
    this.written.set(builderId, now);
    await this.db.update(builders).set({ lastSeenAt: now }).where(eq(builders.id, builderId));
  }
}
