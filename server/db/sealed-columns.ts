// Every column that holds a value sealed under the master key, listed once: its table, the columns
// that name one of its rows, the context a value is bound to (server/secrets/envelope.ts: an envelope
// copied into another row does not open there) and the label errors and reports name the row by.
// Writers seal and open through `sealIn`/`openFrom`; `rotate-key` and backup verification walk the
// list (`sealedRows`). sealed-columns.test.ts fails when db/schema.ts declares a `sealed(...)` column
// without an entry here, or an entry that rotate-key does not re-seal.
import { and, type Column, eq, getTableColumns, isNotNull } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { type Keyring, open, openBytes, type SealedRow, seal } from "../secrets/index.ts";
import type { Db } from "./client.ts";
import { contextEnvVars, logRaw, oidcKeys, projectEnvVars, projects } from "./schema.ts";

type Key<T extends SQLiteTable> = keyof T["$inferSelect"] & string;

export interface SealedColumn<R = never> {
  table: SQLiteTable;
  /** The sealed column's key in `table`. */
  column: string;
  /** The columns that name one row: a re-seal writes only where they and the old envelope match. */
  key: readonly string[];
  /** What the value is bound to, from the row's ids (which never change for that row). */
  context(row: R): string;
  /** How errors and rotation reports name the row (never its value). */
  label(row: R): string;
}

/** An entry whose columns are the table's and whose context and label read only fields its rows have. */
const entry = <T extends SQLiteTable, R>(
  e: {
    table: T;
    column: Key<T>;
    key: readonly Key<T>[];
    context(row: R): string;
    label(row: R): string;
  } & (T["$inferSelect"] extends R ? unknown : { rowLacksFields: never }),
): SealedColumn<R> => e;

type ProjectId = { id: string };

export const SEALED_COLUMNS = {
  projectEnvVar: entry({
    table: projectEnvVars,
    column: "envelope",
    key: ["id"],
    context: (r: { projectId: string; name: string }) => `envvar:${r.projectId}:${r.name}`,
    label: (r: { projectId: string; name: string }) =>
      `project_env_vars project=${r.projectId} name=${r.name}`,
  }),
  contextEnvVar: entry({
    table: contextEnvVars,
    column: "envelope",
    key: ["id"],
    context: (r: { contextId: string; name: string }) => `context:${r.contextId}:${r.name}`,
    label: (r: { contextId: string; name: string }) =>
      `context_env_vars context=${r.contextId} name=${r.name}`,
  }),
  webhookSecret: entry({
    table: projects,
    column: "webhookSecret",
    key: ["id"],
    context: (r: ProjectId) => `webhook:${r.id}`,
    label: (r: ProjectId) => `projects id=${r.id} column=webhook_secret`,
  }),
  forgeToken: entry({
    table: projects,
    column: "forgeToken",
    key: ["id"],
    context: (r: ProjectId) => `forge:${r.id}`,
    label: (r: ProjectId) => `projects id=${r.id} column=forge_token`,
  }),
  deployKey: entry({
    table: projects,
    column: "deployKeyPrivate",
    key: ["id"],
    context: (r: ProjectId) => `deploykey:${r.id}`,
    label: (r: ProjectId) => `projects id=${r.id} column=deploy_key_private`,
  }),
  oidcKey: entry({
    table: oidcKeys,
    column: "privateKey",
    key: ["kid"],
    context: (r: { kid: string }) => `oidc:${r.kid}`,
    label: (r: { kid: string }) => `oidc_keys kid=${r.kid}`,
  }),
  /** The raw tail of a job's log (unmasked bytes), one envelope per write offset. */
  logRaw: entry({
    table: logRaw,
    column: "envelope",
    key: ["jobId", "offset"],
    context: (r: { jobId: string; offset: number }) => `lograw:${r.jobId}:${r.offset}`,
    label: (r: { jobId: string; offset: number }) => `log_raw job=${r.jobId} offset=${r.offset}`,
  }),
};

export type SealedColumnName = keyof typeof SEALED_COLUMNS;

/** Seals `value` for the row `row` of `c`'s column. */
export const sealIn = <R>(keyring: Keyring, c: SealedColumn<R>, row: R, value: string | Uint8Array) =>
  seal(keyring, value, c.context(row));

/** Opens the text sealed in the row `row` of `c`'s column; a SecretEnvelopeError names the row. */
export const openFrom = <R>(keyring: Keyring, c: SealedColumn<R>, row: R, envelope: string) =>
  open(keyring, envelope, c.context(row), c.label(row));

/** As openFrom, for binary values. */
export const openBytesFrom = <R>(keyring: Keyring, c: SealedColumn<R>, row: R, envelope: string) =>
  openBytes(keyring, envelope, c.context(row), c.label(row));

/** A stored sealed value and the registry entry it belongs to. */
export interface StoredSealedRow extends SealedRow {
  column: SealedColumnName;
}

/**
 * Every sealed value in the database, for `rotate-key` and backup verification, each with a conditional
 * write: the new envelope lands only if the row still holds the one that was read.
 */
export async function sealedRows(db: Db): Promise<{
  rows: StoredSealedRow[];
  write: (row: SealedRow, envelope: string) => Promise<void>;
}> {
  const writers = new Map<string, (envelope: string, old: string) => Promise<number>>();
  const rows: StoredSealedRow[] = [];
  for (const [name, c] of Object.entries(SEALED_COLUMNS) as [SealedColumnName, SealedColumn][]) {
    const columns = getTableColumns(c.table) as Record<string, Column>;
    const sealedColumn = columns[c.column];
    const found = (await db.select().from(c.table).where(isNotNull(sealedColumn))) as Record<
      string,
      unknown
    >[];
    for (const r of found) {
      const row = r as never;
      const label = c.label(row);
      rows.push({ column: name, label, envelope: r[c.column] as string, context: c.context(row) });
      writers.set(label, async (next, old) => {
        const u = await db
          .update(c.table)
          .set({ [c.column]: next })
          .where(and(...c.key.map((k) => eq(columns[k], r[k])), eq(sealedColumn, old)));
        return u.rowsAffected;
      });
    }
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
