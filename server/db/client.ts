// Opens the libSQL database (a `file:` URL by default, `libsql://` for a remote sqld/Turso) and
// applies the committed drizzle-kit migrations.
import { createClient } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
import * as schema from "./schema.ts";

export type Db = ReturnType<typeof drizzle<typeof schema>>;

export const MIGRATIONS_DIR = new URL("./migrations", import.meta.url).pathname;

export async function openDb(url: string, authToken?: string): Promise<{ db: Db; close(): void }> {
  const client = createClient({ url, authToken });
  if (url.startsWith("file:")) {
    // WAL lets SSE readers run while a builder's chunks are written; busy_timeout rides out
    // the short write locks of a second server process on the same file.
    await client.execute("PRAGMA journal_mode = WAL");
    await client.execute("PRAGMA busy_timeout = 5000");
    await client.execute("PRAGMA foreign_keys = ON");
  }
  const db = drizzle(client, { schema });
  await migrate(db, { migrationsFolder: MIGRATIONS_DIR });
  return { db, close: () => client.close() };
}
