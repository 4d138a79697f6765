// Fanout across server processes that share one database: a builder uploads to one server, a
// viewer may be connected to another. Each server looks, twice a second, at the jobs its own
// viewers watch (one batched query) and publishes lines and results that reached the database
// through another process. Lines published here already are skipped; viewers drop duplicates.
import type { LogService } from "./service.ts";

export const REPLICA_POLL_MS = 500;

export async function pollReplicas(logs: LogService): Promise<void> {
  const watched = logs.hub.watched();
  if (watched.size === 0) return;
  for (const row of await logs.progress([...watched.keys()])) {
    let p = watched.get(row.jobId);
    while (p && row.lines > p.line) {
      const lines = await logs.readLines(row.jobId, p.line, 5000);
      if (lines.length === 0) break;
      logs.hub.publish(row.jobId, {
        kind: "chunk",
        chunk: { first: lines[0].n, last: lines[lines.length - 1].n, lines },
      });
      p = watched.get(row.jobId);
    }
    p = watched.get(row.jobId);
    if (p && !p.ended && row.over && p.line >= row.lines) {
      logs.hub.publish(row.jobId, { kind: "end", status: row.status, lines: row.lines });
    }
  }
}

/** Starts the watcher; returns its stop function. */
export function startReplicaWatch(logs: LogService): () => void {
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      await pollReplicas(logs);
    } catch (err) {
      console.error("replica log watch failed:", err);
    } finally {
      busy = false;
    }
  }, REPLICA_POLL_MS);
  return () => clearInterval(timer);
}
