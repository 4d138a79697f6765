// Fanout across server processes that share one database: a builder uploads to one server, a
// viewer may be connected to another. Each server looks, twice a second, at the jobs its own
// viewers watch (one batched query) and publishes lines and results that reached the database
// through another process. Lines published here already are skipped; viewers drop duplicates.
import { inArray } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { jobs } from "../db/schema.ts";
import { isTerminal } from "../services/scheduler.ts";
import type { LogService } from "./service.ts";

export const REPLICA_POLL_MS = 500;

export async function pollReplicas(db: Db, logs: LogService): Promise<void> {
  const watched = logs.hub.watched();
  if (watched.size === 0) return;
  const rows = await db
    .select({ id: jobs.id, logLines: jobs.logLines, status: jobs.status })
    .from(jobs)
    .where(inArray(jobs.id, [...watched.keys()]));
  for (const row of rows) {
    let p = watched.get(row.id);
    while (p && row.logLines > p.line) {
      const lines = await logs.readLines(row.id, p.line, 5000);
      if (lines.length === 0) break;
      logs.hub.publish(row.id, {
        kind: "chunk",
        chunk: { first: lines[0].n, last: lines[lines.length - 1].n, lines },
      });
      p = watched.get(row.id);
    }
    p = watched.get(row.id);
    if (p && !p.ended && isTerminal(row.status) && p.line >= row.logLines) {
      logs.hub.publish(row.id, { kind: "end", status: row.status, lines: row.logLines });
    }
  }
}

/** Starts the watcher; returns its stop function. */
export function startReplicaWatch(db: Db, logs: LogService): () => void {
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      await pollReplicas(db, logs);
    } catch (err) {
      console.error("replica log watch failed:", err);
    } finally {
      busy = false;
    }
  }, REPLICA_POLL_MS);
  return () => clearInterval(timer);
}
