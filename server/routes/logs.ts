// Reading a job's log: JSON lines, and a live Server-Sent Events stream that resumes from
// `Last-Event-ID` (or `?from=`): stored lines first, then live ones, with no gap and no duplicate.
import { eq } from "drizzle-orm";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { renderHtml, renderText } from "../../wasm/index.ts";
import { jobs } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { BadRequest, NotFound } from "../errors.ts";
import { ViewerQueue } from "../logs/hub.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { isTerminal } from "../services/scheduler.ts";

const PING_MS = 15_000;

function lineParam(value: string | undefined, name: string): number {
  if (value === undefined || value === "") return 0;
  if (!/^\d{1,12}$/.test(value)) throw new BadRequest(`\`${name}\` must be a line number`, { field: name });
  return Number(value);
}

export const logRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db, logs } = deps;

  const findJob = async (id: string) => {
    const job = await db.query.jobs.findFirst({ where: eq(jobs.id, id) });
    if (!job) throw new NotFound("job", id);
    return job;
  };

  app.get("/jobs/:id/log", async (c) => {
    const job = await findJob(c.req.param("id"));
    const from = lineParam(c.req.query("from"), "from");
    const limit = Math.min(lineParam(c.req.query("limit"), "limit") || 1000, 10_000);
    const format = c.req.query("format") ?? "json";
    if (format === "json") {
      const lines = await logs.readLines(job.id, from, limit);
      const next = lines.length ? lines[lines.length - 1].n : from;
      return c.json({ job_id: job.id, status: job.status, lines, next_from: next, complete: isTerminal(job.status) && next >= job.logLines });
    }
    const lines = await logs.readLines(job.id, from, Number.MAX_SAFE_INTEGER);
    if (format === "text") return c.text(renderText(lines));
    if (format === "html") return c.html(renderHtml(lines));
    throw new BadRequest("`format` must be json, text or html", { field: "format" });
  });

  app.get("/jobs/:id/log/stream", async (c) => {
    const job = await findJob(c.req.param("id"));
    const from = lineParam(c.req.header("last-event-id") ?? c.req.query("from"), "from");
    return streamSSE(c, async (stream) => {
      // Subscribe before reading storage so nothing published in between is missed.
      const queue = new ViewerQueue();
      const unsubscribe = logs.hub.subscribe(job.id, queue);
      stream.onAbort(() => {
        unsubscribe();
        queue.wake();
      });
      let sent = from;
      const send = async (n: number, text: string) => {
        await stream.writeSSE({ id: String(n), event: "line", data: text });
        sent = n;
      };
      try {
        for (;;) {
          const stored = await logs.readLines(job.id, sent, 5000);
          for (const line of stored) await send(line.n, line.text);
          if (stored.length < 5000) break;
        }
        const now = await findJob(job.id);
        let endStatus: string | null = isTerminal(now.status) && sent >= now.logLines ? now.status : null;
        while (!endStatus && !stream.aborted) {
          const ev = await queue.next(PING_MS);
          if (ev === null) return; // dropped for falling behind: the client resumes from its last id
          if (ev === "timeout") {
            await stream.write(": ping\n\n");
            continue;
          }
          if (ev.kind === "end") endStatus = ev.status;
          else for (const line of ev.chunk.lines) if (line.n > sent) await send(line.n, line.text);
        }
        if (endStatus) await stream.writeSSE({ event: "end", data: JSON.stringify({ status: endStatus }) });
      } finally {
        unsubscribe();
      }
    });
  });

  return app;
};
