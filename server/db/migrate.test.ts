import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { migrationsModule } from "../../scripts/build.ts";
import { MIGRATIONS_DIR } from "./client.ts";
import { applyMigrations, migrationHash, readMigrationFolder } from "./migrate.ts";

const dirs: string[] = [];
const freshDb = () => {
  const dir = mkdtempSync(join(tmpdir(), "cairn-migrate-"));
  dirs.push(dir);
  const client = createClient({ url: `file:${join(dir, "db")}` });
  return { client, db: drizzle(client) };
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const rows = async (client: ReturnType<typeof createClient>) =>
  (await client.execute("SELECT hash, created_at FROM __drizzle_migrations ORDER BY id")).rows.map((r) => [
    r.hash,
    Number(r.created_at),
  ]);
const schema = async (client: ReturnType<typeof createClient>) =>
  (
    await client.execute(
      "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
    )
  ).rows.map((r) => [r.type, r.name, r.sql]);

describe("migrations (server/db/migrate.ts)", () => {
  test("the folder reads as drizzle reads it: same hashes, times and statements", () => {
    const ours = readMigrationFolder(MIGRATIONS_DIR);
    const theirs = readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR });
    expect(ours.map((m) => [migrationHash(m), m.when, m.sql.split("--> statement-breakpoint")])).toEqual(
      theirs.map((m) => [m.hash, m.folderMillis, m.sql]),
    );
  });

  test("the module embedded in the binary holds exactly the folder's migrations", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-gen-"));
    dirs.push(dir);
    const file = join(dir, "migrations.ts");
    await Bun.write(file, migrationsModule());
    const { MIGRATIONS } = await import(file);
    expect(MIGRATIONS).toEqual(readMigrationFolder(MIGRATIONS_DIR));
  });

  test("a database made by drizzle's migrator and one made here are the same, and each opens with the other", async () => {
    const a = freshDb();
    await migrate(a.db, { migrationsFolder: MIGRATIONS_DIR });
    const b = freshDb();
    expect(await applyMigrations(b.db, readMigrationFolder(MIGRATIONS_DIR))).toBe(
      readMigrationFolder(MIGRATIONS_DIR).length,
    );
    expect(await rows(b.client)).toEqual(await rows(a.client));
    expect(await schema(b.client)).toEqual(await schema(a.client));
    // Nothing pending either way.
    expect(await applyMigrations(a.db, readMigrationFolder(MIGRATIONS_DIR))).toBe(0);
    await migrate(b.db, { migrationsFolder: MIGRATIONS_DIR });
    expect((await rows(b.client)).length).toBe(readMigrationFolder(MIGRATIONS_DIR).length);
    a.client.close();
    b.client.close();
  });

  test("only the migrations newer than the last applied one run", async () => {
    const all = readMigrationFolder(MIGRATIONS_DIR);
    const { client, db } = freshDb();
    expect(await applyMigrations(db, all.slice(0, 3))).toBe(3);
    expect(await applyMigrations(db, all)).toBe(all.length - 3);
    expect((await rows(client)).map((r) => r[1])).toEqual(all.map((m) => m.when));
    client.close();
  });
});
