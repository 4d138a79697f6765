// Environment variables of projects and contexts, sealed under the master key. Values go in through
// `put` and come out only for a job (`forJob`) or for masking; listings carry a hint, never a value.
// Each value is sealed with its row's context (`envvar:<projectId>:<name>`, `context:<contextId>:<name>`),
// so an envelope copied into another row does not open there.

import { and, asc, eq, inArray } from "drizzle-orm";
import type { JobSpec } from "../circleci/types.ts";
import type { Db } from "../db/client.ts";
import { contextEnvVars, contexts, jobs, logRaw, oidcKeys, projectEnvVars, projects } from "../db/schema.ts";
import { type Keyring, open, type SealedRow, SecretsError, seal, secretHint } from "../secrets/index.ts";
import type { DbOrTx } from "./audit.ts";
import { checkContextUse } from "./context-restrictions.ts";
import { newId } from "./ids.ts";
import { oidcKeyContext } from "./oidc.ts";
import type { Values } from "./restriction-expression.ts";

export type SecretScope = { kind: "project"; id: string } | { kind: "context"; id: string };

export const sealContext = (scope: SecretScope, name: string): string =>
  scope.kind === "project" ? `envvar:${scope.id}:${name}` : `context:${scope.id}:${name}`;

/** Names a row in errors and rotation reports (never its value). */
export const rowLabel = (scope: SecretScope, name: string): string =>
  scope.kind === "project"
    ? `project_env_vars project=${scope.id} name=${name}`
    : `context_env_vars context=${scope.id} name=${name}`;

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
    const envelope = seal(this.keyring, value, sealContext(scope, name));
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
    values: Values | null = null,
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
      for (const r of rows)
        out[r.name] = open(this.keyring, r.envelope, sealContext(scope, r.name), rowLabel(scope, r.name));
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
            values.push(open(this.keyring, r.envelope, sealContext(scope, r.name), rowLabel(scope, r.name)));
          } catch {}
        }
      }
      return values;
    }
  }

  /**
   * Every sealed value in the database, for `rotate-key`: env vars, context vars, projects' sealed
   * columns, OIDC signing keys and the sealed raw log tail. Each comes with a conditional write (only if the row still holds the envelope that was read).
   */
  async sealedRows(): Promise<{
    rows: SealedRow[];
    write: (row: SealedRow, envelope: string) => Promise<void>;
  }> {
    const writers = new Map<string, (envelope: string, old: string) => Promise<number>>();
    const rows: SealedRow[] = [];
    for (const r of await this.db.select().from(projectEnvVars)) {
      const scope: SecretScope = { kind: "project", id: r.projectId };
      const label = rowLabel(scope, r.name);
      rows.push({ label, envelope: r.envelope, context: sealContext(scope, r.name) });
      writers.set(label, async (envelope, old) => {
        const u = await this.db
          .update(projectEnvVars)
          .set({ envelope })
          .where(and(eq(projectEnvVars.id, r.id), eq(projectEnvVars.envelope, old)));
        return u.rowsAffected;
      });
    }
    for (const r of await this.db.select().from(contextEnvVars)) {
      const scope: SecretScope = { kind: "context", id: r.contextId };
      const label = rowLabel(scope, r.name);
      rows.push({ label, envelope: r.envelope, context: sealContext(scope, r.name) });
      writers.set(label, async (envelope, old) => {
        const u = await this.db
          .update(contextEnvVars)
          .set({ envelope })
          .where(and(eq(contextEnvVars.id, r.id), eq(contextEnvVars.envelope, old)));
        return u.rowsAffected;
      });
    }
    // Projects' sealed columns; the contexts must match server/forge/project-forge.ts.
    const projectColumns = [
      { column: projects.webhookSecret, key: "webhookSecret", context: (id: string) => `webhook:${id}` },
      { column: projects.forgeToken, key: "forgeToken", context: (id: string) => `forge:${id}` },
      {
        column: projects.deployKeyPrivate,
        key: "deployKeyPrivate",
        context: (id: string) => `deploykey:${id}`,
      },
    ] as const;
    for (const p of await this.db.select().from(projects)) {
      for (const { column, key, context } of projectColumns) {
        const envelope = p[key];
        if (!envelope) continue;
        const label = `projects id=${p.id} column=${column.name}`;
        rows.push({ label, envelope, context: context(p.id) });
        writers.set(label, async (next, old) => {
          const u = await this.db
            .update(projects)
            .set({ [key]: next })
            .where(and(eq(projects.id, p.id), eq(column, old)));
          return u.rowsAffected;
        });
      }
    }
    for (const r of await this.db.select().from(oidcKeys)) {
      const label = `oidc_keys kid=${r.kid}`;
      rows.push({ label, envelope: r.privateKey, context: oidcKeyContext(r.kid) });
      writers.set(label, async (envelope, old) => {
        const u = await this.db
          .update(oidcKeys)
          .set({ privateKey: envelope })
          .where(and(eq(oidcKeys.kid, r.kid), eq(oidcKeys.privateKey, old)));
        return u.rowsAffected;
      });
    }
    for (const r of await this.db.select().from(logRaw)) {
      const label = `log_raw job=${r.jobId} offset=${r.offset}`;
      // Must match LogService's context for these rows.
      rows.push({ label, envelope: r.envelope, context: `lograw:${r.jobId}:${r.offset}` });
      writers.set(label, async (envelope, old) => {
        const u = await this.db
          .update(logRaw)
          .set({ envelope })
          .where(and(eq(logRaw.jobId, r.jobId), eq(logRaw.offset, r.offset), eq(logRaw.envelope, old)));
        return u.rowsAffected;
      });
    }
    return {
      rows,
      write: async (row, envelope) => {
        const changed = await writers.get(row.label)!(envelope, row.envelope);
        // 0 rows: the value was changed or deleted meanwhile, under the current key; nothing to do.
        if (changed > 1) throw new Error(`re-sealing ${row.label} changed ${changed} rows`);
      },
    };
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
