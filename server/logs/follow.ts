// Following a job's log from line `after`: stored lines first, then live ones from the hub, with
// no gap and no duplicate, ending with the job's result. Shared by the SSE and WebSocket routes.
import { eq } from "drizzle-orm";
import type { LogLine } from "../../wasm/types.ts";
import type { Db } from "../db/client.ts";
import { jobs } from "../db/schema.ts";
import { isTerminal } from "../services/scheduler.ts";
import { ViewerQueue } from "./hub.ts";
import type { LogService } from "./service.ts";

/** Lines come in batches (a stored page, or one live chunk), so a stream writes once per batch. */
export type FollowEvent =
  | { kind: "lines"; lines: LogLine[] }
  | { kind: "end"; status: string }
  | { kind: "ping" };

const PAGE = 5000;

export async function* followLog(
  db: Db,
  logs: LogService,
  jobId: string,
  after: number,
  opts: { pingMs: number; signal: AbortSignal; queueLimit?: number },
): AsyncGenerator<FollowEvent> {
  // Subscribe before reading storage so nothing published in between is missed.
  const queue = new ViewerQueue(opts.queueLimit);
  const unsubscribe = logs.hub.subscribe(jobId, queue);
  const wake = () => queue.wake();
  opts.signal.addEventListener("abort", wake);
  let sent = after;
  try {
    for (;;) {
      const stored = await logs.readLines(jobId, sent, PAGE);
      if (stored.length) {
        sent = stored[stored.length - 1].n;
        yield { kind: "lines", lines: stored };
      }
      if (stored.length < PAGE) break;
    }
    logs.hub.noteRead(jobId, sent);
    const job = await db.query.jobs.findFirst({
      where: eq(jobs.id, jobId),
      columns: { status: true, logLines: true },
    });
    if (job && isTerminal(job.status) && sent >= job.logLines && !queue.pending()) {
      yield { kind: "end", status: job.status };
      return;
    }
    while (!opts.signal.aborted) {
      const ev = await queue.next(opts.pingMs);
      if (ev === null) return; // dropped for falling behind: the client resumes from its last id
      if (ev === "timeout") {
        yield { kind: "ping" };
        continue;
      }
      for (const e of [ev, ...queue.takeAll()]) {
        if (e.kind === "end") {
          // Lines stored after our read but published before we subscribed cannot exist (we subscribed
          // first); still, read to the end so the result always follows the last line.
          for await (const rest of logs.pages(jobId, sent)) yield { kind: "lines", lines: rest };
          yield { kind: "end", status: e.status };
          return;
        }
        // A chunk that is all new goes out as the hub's own array, shared by every viewer of the job,
        // so a stream can render it once for all of them (see routes/logs.ts).
        const lines = e.chunk.first > sent ? e.chunk.lines : e.chunk.lines.filter((l) => l.n > sent);
        if (lines.length === 0) continue;
        sent = lines[lines.length - 1].n;
        yield { kind: "lines", lines };
      }
    }
  } finally {
    opts.signal.removeEventListener("abort", wake);
    unsubscribe();
  }
}
