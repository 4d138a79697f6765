// Applies the drizzle-kit migrations with the semantics of drizzle-orm/libsql/migrator.js (same
// `__drizzle_migrations` table, hash = sha256 of the file's SQL, created_at = the journal's `when`,
// statements split on `--> statement-breakpoint`, one batch), from either the committed folder or a
// set embedded in the binary by scripts/build.ts. A data dir made either way opens with the other.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import type { LibSQLDatabase } from "drizzle-orm/libsql";

/** One migration as the journal and its .sql file give it. */
export interface Migration {
  tag: string;
  /** The journal's `when` (ms): drizzle compares it with the last applied row's created_at. */
  when: number;
  sql: string;
}

export const MIGRATIONS_TABLE = "__drizzle_migrations";

let embedded: readonly Migration[] | undefined;

/** Called by the binary's entry point (dist/gen/server-entry.ts) before anything opens the database. */
export function useEmbeddedMigrations(migrations: readonly Migration[]): void {
  embedded = migrations;
}

/** The migrations the database is brought up to: the embedded set in a binary, else the folder. */
export const currentMigrations = (folder: string): readonly Migration[] =>
  embedded ?? readMigrationFolder(folder);

/** The folder drizzle-kit writes: meta/_journal.json names each `<tag>.sql` in order. */
export function readMigrationFolder(folder: string): Migration[] {
  const journal = JSON.parse(readFileSync(join(folder, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string; when: number }[];
  };
  return journal.entries.map((e) => ({
    tag: e.tag,
    when: e.when,
    sql: readFileSync(join(folder, `${e.tag}.sql`), "utf8"),
  }));
}

export const migrationHash = (m: Migration): string => createHash("sha256").update(m.sql).digest("hex");

export async function applyMigrations(
  // biome-ignore lint/suspicious/noExplicitAny: any drizzle libSQL database, whatever its schema
  db: LibSQLDatabase<any>,
  migrations: readonly Migration[],
): Promise<number> {
  const table = sql.identifier(MIGRATIONS_TABLE);
  // Byte for byte drizzle's statement, so sqlite_master reads the same whichever made the table.
  await db.run(sql`
		CREATE TABLE IF NOT EXISTS ${table} (
			id SERIAL PRIMARY KEY,
			hash text NOT NULL,
			created_at numeric
		)
	`);
  const [last] = await db.values<[unknown, string, unknown]>(
    sql`SELECT id, hash, created_at FROM ${table} ORDER BY created_at DESC LIMIT 1`,
  );
  const pending = migrations.filter((m) => !last || Number(last[2]) < m.when);
  const batch = pending.flatMap((m) => [
    ...m.sql.split("--> statement-breakpoint").map((stmt) => db.run(sql.raw(stmt))),
    db.run(sql`INSERT INTO ${table} ("hash", "created_at") VALUES(${migrationHash(m)}, ${m.when})`),
  ]);
  // The same call drizzle's migrator makes: every statement in one libSQL batch (all or nothing).
  // biome-ignore lint/suspicious/noExplicitAny: drizzle's session.migrate is not in its public types
  if (batch.length > 0) await (db as any).session.migrate(batch);
  return pending.length;
}
