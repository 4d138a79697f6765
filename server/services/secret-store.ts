// Environment variables of projects and contexts, sealed under the master key. Values go in through
// `put` and come out only for a job (`forJob`) or for masking; listings carry a hint, never a value.
// Each value is sealed with its row's context (db/sealed-columns.ts), so an envelope copied into another
// row does not open there.

import { and, asc, eq, inArray } from "drizzle-orm";
import type { JobSpec } from "../circleci/types.ts";
import type { Db } from "../db/client.ts";
import { contextEnvVars, contexts, jobs, projectEnvVars } from "../db/schema.ts";
import { openFrom, SEALED_COLUMNS, sealIn } from "../db/sealed-columns.ts";
import { type Keyring, SecretsError, secretHint } from "../secrets/index.ts";
import type { DbOrTx } from "./audit.ts";
import { checkContextUse, type JobValues } from "./context-restrictions.ts";
import { newId } from "./ids.ts";

export type SecretScope = { kind: "project"; id: string } | { kind: "context"; id: string };

const sealVar = (keyring: Keyring, scope: SecretScope, name: string, value: string): string =>
  scope.kind === "project"
    ? sealIn(keyring, SEALED_COLUMNS.projectEnvVar, { projectId: scope.id, name }, value)
    : sealIn(keyring, SEALED_COLUMNS.contextEnvVar, { contextId: scope.id, name }, value);

/** Opens a variable's value; a SecretEnvelopeError names its row (never its value). */
const openVar = (keyring: Keyring, scope: SecretScope, name: string, envelope: string): string =>
  scope.kind === "project"
    ? openFrom(keyring, SEALED_COLUMNS.projectEnvVar, { projectId: scope.id, name }, envelope)
    : openFrom(keyring, SEALED_COLUMNS.contextEnvVar, { contextId: scope.id, name }, envelope);

export interface SecretListing {
  name: string;
  hint: string;
  createdAt: number;
  updatedAt: number;
}

/** A context a job names does not exist: the job cannot get the secrets it expects. */
export class MissingContextError extends SecretsError {
  constructor(readonly names: string[]) {
    super("context_missing", `the job names context(s) that do not exist: ${names.join(", ")}`, 422, {
      contexts: names,
    });
  }
}

type Row = typeof projectEnvVars.$inferSelect | typeof contextEnvVars.$inferSelect;

export class SecretStore {
  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
  ) {}

  private table(scope: SecretScope) {
    return scope.kind === "project"
      ? { t: projectEnvVars, owner: projectEnvVars.projectId, ownerKey: "projectId" as const }
      : { t: contextEnvVars, owner: contextEnvVars.contextId, ownerKey: "contextId" as const };
  }

  /**
   * Creates or replaces `name` in `scope`. `after` runs in the same transaction (the audit row),
   * told whether the variable was created or updated.
   */
  async put(
    scope: SecretScope,
    name: string,
    value: string,
    after?: (tx: DbOrTx, created: boolean) => Promise<void>,
  ): Promise<{ created: boolean; listing: SecretListing }> {
    const { t, owner, ownerKey } = this.table(scope);
    const envelope = sealVar(this.keyring, scope, name, value);
    const hint = secretHint(value);
    return this.db.transaction(async (tx) => {
      const existing = await tx
        .select({ id: t.id })
        .from(t)
        .where(and(eq(owner, scope.id), eq(t.name, name)))
        .get();
      const now = Date.now();
      const [row] = existing
        ? await tx.update(t).set({ envelope, hint, updatedAt: now }).where(eq(t.id, existing.id)).returning()
        : await tx
            .insert(t)
            .values({
              id: newId(),
              [ownerKey]: scope.id,
              name,
              envelope,
              hint,
              createdAt: now,
              updatedAt: now,
            } as never)
            .returning();
      await after?.(tx, !existing);
      return { created: !existing, listing: listing(row as Row) };
    });
  }

  async list(scope: SecretScope): Promise<SecretListing[]> {
    const { t, owner } = this.table(scope);
    const rows = await this.db.select().from(t).where(eq(owner, scope.id)).orderBy(asc(t.name));
    return rows.map((r) => listing(r as Row));
  }

  /** Deletes `name`; false if it did not exist. `after` runs in the same transaction. */
  async remove(scope: SecretScope, name: string, after?: (tx: DbOrTx) => Promise<void>): Promise<boolean> {
    const { t, owner } = this.table(scope);
    return this.db.transaction(async (tx) => {
      const r = await tx.delete(t).where(and(eq(owner, scope.id), eq(t.name, name)));
      if (r.rowsAffected !== 1) return false;
      await after?.(tx);
      return true;
    });
  }

  /**
   * The variables a job sees: its project's, then those of each context it names, in order (a later
   * one wins). Throws SecretEnvelopeError naming the row if any value does not open, and
   * MissingContextError if a named context does not exist: a job never runs with a secret missing.
   */
  async forJob(
    projectId: string,
    contextNames: readonly string[],
    /** The job's pipeline values: a context's restrictions are checked against them (null: not checked). */
    values: JobValues | null = null,
  ): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const scopes: SecretScope[] = [{ kind: "project", id: projectId }];
    if (contextNames.length > 0) {
      const found = await this.db
        .select()
        .from(contexts)
        .where(inArray(contexts.name, [...contextNames]));
      const byName = new Map(found.map((c) => [c.name, c.id]));
      const missing = contextNames.filter((n) => !byName.has(n));
      if (missing.length > 0) throw new MissingContextError(missing);
      if (values)
        await checkContextUse(
          this.db,
          contextNames.map((name) => ({ id: byName.get(name)!, name })),
          projectId,
          values,
        );
      for (const n of contextNames) scopes.push({ kind: "context", id: byName.get(n)! });
    }
    for (const scope of scopes) {
      const { t, owner } = this.table(scope);
      const rows = await this.db.select().from(t).where(eq(owner, scope.id)).orderBy(asc(t.name));
      for (const r of rows) out[r.name] = openVar(this.keyring, scope, r.name, r.envelope);
    }
    return out;
  }

  /** The values a job was (or would be) given, for masking its log; rows that do not open are left out. */
  async valuesForJob(jobId: string): Promise<string[]> {
    const job = await this.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
    if (!job) return [];
    const spec = JSON.parse(job.spec) as JobSpec;
    try {
      return Object.values(await this.forJob(job.projectId, spec.contexts ?? []));
    } catch {
      // Such a job fails at grant (see Scheduler), so nothing was delivered: mask what still opens.
      const values: string[] = [];
      const scopes: SecretScope[] = [{ kind: "project", id: job.projectId }];
      const ctx = spec.contexts?.length
        ? await this.db.select().from(contexts).where(inArray(contexts.name, spec.contexts))
        : [];
      for (const c of ctx) scopes.push({ kind: "context", id: c.id });
      for (const scope of scopes) {
        const { t, owner } = this.table(scope);
        for (const r of await this.db.select().from(t).where(eq(owner, scope.id))) {
          try {
            values.push(openVar(this.keyring, scope, r.name, r.envelope));
          } catch {}
        }
      }
      return values;
    }
  }
}

const listing = (r: Row): SecretListing => ({
  name: r.name,
  hint: r.hint,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});

/**
 * The values most recently sealed into each job's payload, kept in memory (bounded) so the job's log is
 * masked with what the job actually got even if a variable changes while it runs. After a restart only
 * the stored values are known.
 */
export class DeliveredSecrets {
  private readonly byJob = new Map<string, string[]>();
  constructor(private readonly max = 1000) {}

  remember(jobId: string, secrets: Record<string, string>): Record<string, string> {
    this.byJob.delete(jobId);
    this.byJob.set(jobId, Object.values(secrets));
    // Oldest first: a Map iterates in insertion order.
    for (const key of this.byJob.keys()) {
      if (this.byJob.size <= this.max) break;
      this.byJob.delete(key);
    }
    return secrets;
  }

  get(jobId: string): string[] {
    return this.byJob.get(jobId) ?? [];
  }
}
