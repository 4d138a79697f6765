// A remote libSQL endpoint for tests: the Hrana protocol over HTTP (version 2, JSON), the one
// sqld and Turso serve at `/v2/pipeline`, backed by SQLite (bun:sqlite) on one file. sqld itself
// is neither a Debian package nor on npm, so it cannot run here; this stands in for it as a real
// HTTP server on 127.0.0.1, and the server under test reaches it through @libsql/client's own
// remote driver (`CAIRN_DB_URL=http://…` plus `CAIRN_DB_AUTH_TOKEN`), exactly as it would reach sqld.
//
// What it keeps from sqld: bearer-token auth on every request; a stream per baton with its own
// connection, so interactive transactions (BEGIN IMMEDIATE … COMMIT over several requests) are
// isolated; batches with step conditions; stored SQL (`store_sql`); a writer that meets another
// stream's write lock waits (here: retries asynchronously for up to 10 s) instead of failing.
import { Database, type SQLQueryBindings } from "bun:sqlite";

type Value =
  | { type: "null" }
  | { type: "integer"; value: string }
  | { type: "float"; value: number }
  | { type: "text"; value: string }
  | { type: "blob"; base64: string };
interface Stmt {
  sql?: string;
  sql_id?: number;
  args?: Value[];
  named_args?: { name: string; value: Value }[];
  want_rows?: boolean;
}
type Cond =
  | { type: "ok" | "error"; step: number }
  | { type: "not"; cond: Cond }
  | { type: "and" | "or"; conds: Cond[] }
  | { type: "is_autocommit" };
type Request =
  | { type: "execute"; stmt: Stmt }
  | { type: "batch"; batch: { steps: { condition?: Cond | null; stmt: Stmt }[] } }
  | { type: "sequence"; sql?: string; sql_id?: number }
  | { type: "store_sql"; sql_id: number; sql: string }
  | { type: "close_sql"; sql_id: number }
  | { type: "get_autocommit" }
  | { type: "close" };

class HranaError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

interface Stream {
  db: Database;
  sqls: Map<number, string>;
  idle?: ReturnType<typeof setTimeout>;
}

export interface HranaServer {
  /** `http://127.0.0.1:PORT`, or `libsql://localhost:PORT` with TLS: what CAIRN_DB_URL gets. */
  url: string;
  token: string;
  /** Pipeline requests answered, and how many were refused for a bad token. */
  stats: { pipelines: number; unauthorized: number };
  stop(): void;
}

const STREAM_IDLE_MS = 10_000; // sqld expires an idle stream's baton after about as long
const BUSY_WAIT_MS = 10_000;

export function startHranaServer(
  file: string,
  token: string,
  opts: { tls?: { cert: string; key: string } } = {},
): HranaServer {
  const setup = new Database(file, { create: true });
  setup.exec("PRAGMA journal_mode = WAL");
  setup.close();

  const streams = new Map<string, Stream>();
  const pool: Database[] = [];
  const stats = { pipelines: 0, unauthorized: 0 };

  const openStream = (): Stream => {
    const db = pool.pop() ?? new Database(file, { safeIntegers: true });
    return { db, sqls: new Map() };
  };
  const closeStream = (s: Stream) => {
    clearTimeout(s.idle);
    if (s.db.inTransaction) s.db.exec("ROLLBACK");
    pool.push(s.db);
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    ...(opts.tls ? { tls: opts.tls } : {}),
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.headers.get("authorization") !== `Bearer ${token}`) {
        stats.unauthorized++;
        return Response.json({ error: "Unauthorized" }, { status: 401 });
      }
      if (req.method === "GET" && (path === "/v2" || path === "/health")) return new Response("ok");
      if (req.method !== "POST" || path !== "/v2/pipeline")
        return Response.json({ error: "Not found" }, { status: 404 }); // the client then falls back to v2
      const body = (await req.json()) as { baton?: string | null; requests: Request[] };
      let stream: Stream | undefined;
      if (body.baton) {
        stream = streams.get(body.baton);
        if (!stream) return Response.json({ error: "Stream expired or unknown baton" }, { status: 400 });
        streams.delete(body.baton);
        clearTimeout(stream.idle);
      } else stream = openStream();
      stats.pipelines++;

      const results: unknown[] = [];
      let open = true;
      for (const r of body.requests) {
        if (!open) {
          results.push({ type: "error", error: { message: "stream is closed", code: "STREAM_CLOSED" } });
          continue;
        }
        if (r.type === "close") {
          open = false;
          closeStream(stream);
          results.push({ type: "ok", response: { type: "close" } });
          continue;
        }
        try {
          results.push({ type: "ok", response: await answer(stream, r) });
        } catch (e) {
          const err = e instanceof HranaError ? e : sqliteError(e);
          results.push({ type: "error", error: { message: err.message, code: err.code } });
        }
      }
      let baton: string | null = null;
      if (open) {
        baton = crypto.randomUUID();
        const s = stream;
        streams.set(baton, s);
        s.idle = setTimeout(() => {
          streams.delete(baton!);
          closeStream(s);
        }, STREAM_IDLE_MS);
      }
      return Response.json({ baton, base_url: null, results });
    },
  });

  return {
    url: opts.tls ? `libsql://localhost:${server.port}` : `http://127.0.0.1:${server.port}`,
    token,
    stats,
    stop() {
      server.stop(true);
      for (const s of streams.values()) closeStream(s);
      streams.clear();
      for (const db of pool.splice(0)) db.close();
    },
  };
}

async function answer(stream: Stream, r: Request): Promise<unknown> {
  switch (r.type) {
    case "execute":
      return { type: "execute", result: await execute(stream, r.stmt) };
    case "batch": {
      const step_results: unknown[] = [];
      const step_errors: unknown[] = [];
      const holds = (c: Cond): boolean => {
        switch (c.type) {
          case "ok":
            return step_results[c.step] != null;
          case "error":
            return step_errors[c.step] != null;
          case "not":
            return !holds(c.cond);
          case "and":
            return c.conds.every(holds);
          case "or":
            return c.conds.some(holds);
          case "is_autocommit":
            return !stream.db.inTransaction;
        }
      };
      for (const step of r.batch.steps) {
        if (step.condition && !holds(step.condition)) {
          step_results.push(null);
          step_errors.push(null);
          continue;
        }
        try {
          step_results.push(await execute(stream, step.stmt));
          step_errors.push(null);
        } catch (e) {
          const err = e instanceof HranaError ? e : sqliteError(e);
          step_results.push(null);
          step_errors.push({ message: err.message, code: err.code });
        }
      }
      return { type: "batch", result: { step_results, step_errors } };
    }
    case "sequence": {
      const sql = r.sql ?? storedSql(stream, r.sql_id);
      await whenNotBusy(() => stream.db.exec(sql));
      return { type: "sequence" };
    }
    case "store_sql":
      stream.sqls.set(r.sql_id, r.sql);
      return { type: "store_sql" };
    case "close_sql":
      stream.sqls.delete(r.sql_id);
      return { type: "close_sql" };
    case "get_autocommit":
      return { type: "get_autocommit", is_autocommit: !stream.db.inTransaction };
    default:
      throw new HranaError(`unsupported request ${(r as { type: string }).type}`, "UNSUPPORTED");
  }
}

function storedSql(stream: Stream, id: number | undefined): string {
  const sql = id === undefined ? undefined : stream.sqls.get(id);
  if (sql === undefined) throw new HranaError(`no stored SQL with id ${id}`, "SQL_NOT_FOUND");
  return sql;
}

async function execute(stream: Stream, stmt: Stmt) {
  const sql = stmt.sql ?? storedSql(stream, stmt.sql_id);
  const db = stream.db;
  return whenNotBusy(() => {
    const q = db.prepare(sql);
    const bind: SQLQueryBindings[] = (stmt.args ?? []).map(decode);
    const named = stmt.named_args ?? [];
    const params = (
      named.length > 0 ? [Object.fromEntries(named.map((a) => [a.name, decode(a.value)]))] : bind
    ) as SQLQueryBindings[];
    const changesBefore = totalChanges(db);
    let rows: unknown[][] = [];
    let affected: number;
    if (q.columnNames.length === 0) affected = Number(q.run(...params).changes);
    else {
      rows = q.values(...params) as unknown[][];
      affected = totalChanges(db) - changesBefore; // a RETURNING statement's rows changed
    }
    const cols = q.columnNames.map((name, i) => ({ name, decltype: q.declaredTypes[i] ?? null }));
    const last = db.query("SELECT last_insert_rowid()").values()[0]?.[0];
    q.finalize();
    return {
      cols,
      rows: stmt.want_rows === false ? [] : rows.map((row) => row.map(encode)),
      affected_row_count: affected,
      last_insert_rowid: last === undefined || last === null ? null : String(last),
    };
  });
}

const totalChanges = (db: Database) => Number(db.query("SELECT total_changes()").values()[0]![0]);

/** Runs `fn`, and while another stream holds the write lock, tries again later without blocking the loop. */
async function whenNotBusy<T>(fn: () => T): Promise<T> {
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    try {
      return fn();
    } catch (e) {
      const code = (e as { code?: string }).code ?? "";
      if (code !== "SQLITE_BUSY" || Date.now() > deadline) throw e;
    }
    await Bun.sleep(wait);
  }
}

function sqliteError(e: unknown): HranaError {
  const err = e as { message?: string; code?: string };
  return new HranaError(`SQLite error: ${err.message ?? String(e)}`, err.code ?? "UNKNOWN");
}

function decode(v: Value): SQLQueryBindings {
  switch (v.type) {
    case "null":
      return null;
    case "integer":
      return BigInt(v.value);
    case "float":
      return v.value;
    case "text":
      return v.value;
    case "blob":
      return Buffer.from(v.base64, "base64");
  }
}

function encode(v: unknown): Value {
  if (v === null || v === undefined) return { type: "null" };
  if (typeof v === "bigint") return { type: "integer", value: String(v) };
  if (typeof v === "number") return { type: "float", value: v };
  if (typeof v === "string") return { type: "text", value: v };
  if (v instanceof Uint8Array) return { type: "blob", base64: Buffer.from(v).toString("base64") };
  throw new Error(`cannot encode ${typeof v}`);
}
