// EXPERIMENT ONLY (bench:fanout --experiment-sync-normal): preloaded into the server to show what
// server/db/client.ts would gain by giving every pooled connection `synchronous = NORMAL` (WAL:
// durable across a process crash, fsync at checkpoints instead of at every commit); the busy
// timeout is set again only so each connection is alike. Results with it are reported apart.
import Database from "libsql";

const prepared = new WeakSet<object>();
const proto = Database.prototype as unknown as { prepare(sql: string): unknown; exec(sql: string): unknown };
const prepare = proto.prepare;
proto.prepare = function (this: object, sql: string) {
  if (!prepared.has(this)) {
    prepared.add(this);
    (this as typeof proto).exec("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000");
  }
  return prepare.call(this, sql);
};
