// Opens the libSQL database (a `file:` URL by default, `libsql://` for a remote sqld/Turso) and
// applies the committed drizzle-kit migrations (server/db/migrate.ts).
import { createClient } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { applyMigrations, currentMigrations } from "./migrate.ts";
import * as schema from "./schema.ts";

export type Db = ReturnType<typeof drizzle<typeof schema>>;

export const MIGRATIONS_DIR = new URL("./migrations", import.meta.url).pathname;

export async function openDb(url: string, authToken?: string): Promise<{ db: Db; close(): void }> {
  // `timeout` is the busy timeout of every pooled connection: it rides out the short write locks
  // of a second server process on the same file (a PRAGMA would reach only one connection).
  const client = createClient({ url, authToken, timeout: 10_000 });
  if (url.startsWith("file:")) {
    // WAL (persistent in the file) lets SSE readers run while a builder's chunks are written.
    await client.execute("PRAGMA journal_mode = WAL");
  }
  const db = drizzle(client, { schema });
  // The folder from a checkout, the embedded copy in a binary (server/db/migrate.ts).
  await applyMigrations(db, currentMigrations(MIGRATIONS_DIR));
  return { db, close: () => client.close() };
}
