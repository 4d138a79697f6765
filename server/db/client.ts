// Opens the libSQL database (a `file:` URL by default, `libsql://` for a remote sqld/Turso) and
// applies the committed drizzle-kit migrations (server/db/migrate.ts).
import type { drizzle } from "drizzle-orm/libsql";
import { applyMigrations, currentMigrations } from "./migrate.ts";
import * as schema from "./schema.ts";

export type Db = ReturnType<typeof drizzle<typeof schema>>;
/** A database or an open transaction on it. */
export type DbOrTx = Db | Parameters<Parameters<Db["transaction"]>[0]>[0];

export const MIGRATIONS_DIR = new URL("./migrations", import.meta.url).pathname;

export async function openDb(url: string, authToken?: string): Promise<{ db: Db; close(): void }> {
  // Loaded here, not at start: libSQL's client loads its native addon as it is evaluated, and the
  // binary unpacks that addon off the main thread while the rest of the server's modules evaluate
  // (scripts/build.ts; issue 19, start-up).
  const [{ createClient }, { drizzle }] = await Promise.all([
    import("@libsql/client"),
    import("drizzle-orm/libsql"),
  ]);
  // `timeout` is the busy timeout of every pooled connection: it rides out the short write locks
  // of a second server process on the same file (a PRAGMA would reach only one connection).
  const client = createClient({ url, authToken, timeout: 10_000 });
  if (url.startsWith("file:")) {
    // WAL (persistent in the file) lets SSE readers run while a builder's chunks are written.
    await client.execute("PRAGMA journal_mode = WAL");
  } else {
    // A remote database is reached first with a trivial query, so a wrong address or a refused
    // token is said as such, not as the first migration's failure.
    try {
      await client.execute("SELECT 1");
    } catch (e) {
      client.close();
      throw new Error(remoteFailure(url, e));
    }
  }
  const db = drizzle(client, { schema });
  // The folder from a checkout, the embedded copy in a binary (server/db/migrate.ts).
  await applyMigrations(db, currentMigrations(MIGRATIONS_DIR));
  return { db, close: () => client.close() };
}

/** Why a remote database did not answer, for an operator; the URL is shown without its query (it may carry a token). */
export function remoteFailure(url: string, e: unknown): string {
  let where = url;
  try {
    const u = new URL(url);
    where = `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {}
  const cause = e instanceof Error ? e.message : String(e);
  const status = /HTTP status (\d{3})/.exec(cause)?.[1];
  if (status === "401" || status === "403")
    return `the database at ${where} refused the auth token (HTTP ${status}): check CAIRN_DB_AUTH_TOKEN`;
  return `cannot use the database at ${where}: ${cause}`;
}
