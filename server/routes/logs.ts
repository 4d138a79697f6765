import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { BadRequest } from "../errors.ts";
import { isTerminal } from "../job-status.ts";
import { downloadLog, downloadTypes } from "../logs/download.ts";
import { followLog } from "../logs/follow.ts";
import { logSse, VIEWER_BUDGET_BYTES } from "../logs/sse.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { wsOrigin } from "../middleware/ws-origin/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { requireJobRole } from "../services/access.ts";
import type { StreamLease } from "../services/stream-guard.ts";

const PING_MS = 15_000;

/** Bytes a WebSocket holds unsent: Bun's ServerWebSocket counts them with a method, others with a property. */
function bufferedBytes(raw: unknown): number {
  const ws = raw as { getBufferedAmount?: () => number; bufferedAmount?: number } | undefined;
  return ws?.getBufferedAmount?.() ?? ws?.bufferedAmount ?? 0;
}

function lineParam(value: string | undefined, name: string): number {
  if (value === undefined || value === "") return 0;
  if (!/^\d{1,12}$/.test(value)) throw new BadRequest(`\`${name}\` must be a line number`, { field: name });
  return Number(value);
}

export const logRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db, logs } = deps;

  app.get("/jobs/:id/log", validate(ops.getJobLog), async (c) => {
    const job = await requireJobRole(deps, c.get("user"), c.req.param("id"), "read");
    const q = c.req.valid("query");
    const from = lineParam(q.from, "from");
    const format = q.format ?? "json";
    if (format === "json") {
      const limit = Math.min(lineParam(q.limit, "limit") || 1000, 10_000);
      const lines = await logs.readLines(job.id, from, limit);
      const next = lines.length ? lines[lines.length - 1].n : from;
      return c.json({
        job_id: job.id,
        status: job.status,
        lines,
        next_from: next,
        total_lines: job.logLines,
        complete: isTerminal(job.status) && next >= job.logLines,
      });
    }
    const { contentType, ext } = downloadTypes[format];
    return c.body(downloadLog(logs, job.id, from, format), 200, {
      "content-type": contentType,
      "content-disposition": `attachment; filename="job-${job.id}.${ext}"`,
    });
  });

  app.get("/jobs/:id/log/stream", validate(ops.streamJobLog), async (c) => {
    const user = c.get("user");
    const job = await requireJobRole(deps, user, c.req.param("id"), "read");
    const from = lineParam(c.req.header("last-event-id") ?? c.req.valid("query").from, "from");
    // Ended within a second when the viewer's token or session is revoked or they lose the project.
    const lease = deps.streams.open(user, [job.projectId]);
    return c.body(logSse(db, logs, job.id, from, { pingMs: PING_MS, lease }), 200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
  });

  if (deps.upgradeWebSocket) {
    const upgrade = deps.upgradeWebSocket;
    // Same stream as SSE, as JSON messages with style spans: {"type":"line",...LogLine} then {"type":"end","status"}.
    app.get(
      "/jobs/:id/log/ws",
      validate(ops.jobLogSocket),
      wsOrigin({ publicUrl: deps.publicUrl }),
      async (c, next) => {
        const job = await requireJobRole(deps, c.get("user"), c.req.param("id"), "read");
        c.set("streamProject", job.projectId);
        await next();
      },
      upgrade((c) => {
        const jobId = c.req.param("id")!;
        const from = Number(c.req.query("from") ?? 0);
        const abort = new AbortController();
        const user = c.get("user");
        const projectId = c.get("streamProject");
        // Held from the moment the socket opens (an upgrade that never opens holds nothing).
        let lease: StreamLease | null = null;
        const revoked = () => abort.abort();
        return {
          async onOpen(_evt, ws) {
            lease = deps.streams.open(user, [projectId]);
            lease.signal.addEventListener("abort", revoked);
            let ended = false;
            try {
              // A viewer whose socket holds more than its budget unsent is dropped (1013, try again
              // later) and resumes from its last line: the server buffers no more for it.
              for await (const ev of followLog(db, logs, jobId, from, {
                pingMs: PING_MS,
                signal: abort.signal,
                buffered: () => bufferedBytes(ws.raw),
                budgetBytes: VIEWER_BUDGET_BYTES,
              })) {
                if (ev.kind === "ping") ws.send('{"type":"ping"}');
                else if (ev.kind === "lines")
                  for (const line of ev.lines) ws.send(JSON.stringify({ type: "line", ...line }));
                else {
                  ws.send(JSON.stringify({ type: "end", status: ev.status }));
                  ended = true;
                }
              }
            } finally {
              lease.signal.removeEventListener("abort", revoked);
              lease.close();
              // 1008 (policy violation): the viewer's access was revoked while it watched.
              if (lease.signal.aborted) ws.close(1008, "access revoked");
              else if (ended || abort.signal.aborted) ws.close(1000, "end of log");
              else ws.close(1013, "behind: resume from the last line");
            }
          },
          onClose() {
            abort.abort();
            lease?.close();
          },
        };
      }),
    );
  }

  return app;
};
