// GET /api/v1/events: Server-Sent Events of state changes for live builds lists. Event id = the
// stored event's id; `Last-Event-ID` (or `?after=`) resumes; without one the stream starts now.
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { AppDeps } from "../deps.ts";
import { BadRequest } from "../errors.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { readableProjectIds } from "../services/access.ts";

const POLL_MS = 1000;
const PING_MS = 15_000;

export const eventRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();

  app.get("/events", validate(ops.streamEvents), async (c) => {
    const raw = c.req.header("last-event-id") ?? c.req.valid("query").after;
    // Last-Event-ID is the browser's echo of an id we sent: checked like `after`.
    if (raw !== undefined && !/^\d{0,15}$/.test(raw))
      throw new BadRequest(
        "`Last-Event-ID` must be an event id",
        { field: "last-event-id" },
        "invalid_header",
      );
    let after = raw === undefined || raw === "" ? await deps.events.latestId() : Number(raw);
    const user = c.get("user");
    // Only events of projects the user may read; the list is refreshed so a new membership shows up.
    let readable = await readableProjectIds(deps.db, user);
    let readableAt = Date.now();
    // Ended within a second when the user's token or session is revoked or they lose a project.
    const lease = deps.streams.open(user, readable);
    return streamSSE(c, async (stream) => {
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      const revoked = () => abort.abort();
      lease.signal.addEventListener("abort", revoked);
      try {
        let quietSince = Date.now();
        await stream.writeSSE({ event: "ready", data: JSON.stringify({ after }) });
        while (!abort.signal.aborted) {
          if (Date.now() - readableAt > 10_000) {
            readable = await readableProjectIds(deps.db, user);
            readableAt = Date.now();
            lease.update(readable);
          }
          const batch = await deps.events.since(after, readable);
          if (abort.signal.aborted) break;
          for (const ev of batch) {
            await stream.writeSSE({ id: String(ev.id), event: ev.type, data: JSON.stringify(ev) });
            after = ev.id;
          }
          if (batch.length) quietSince = Date.now();
          else if (Date.now() - quietSince >= PING_MS) {
            await stream.write(": ping\n\n");
            quietSince = Date.now();
          }
          if (batch.length < 500) await deps.events.wait(POLL_MS, abort.signal);
        }
        if (lease.signal.aborted) await stream.writeSSE({ event: "revoked", data: "{}" });
      } finally {
        lease.signal.removeEventListener("abort", revoked);
        lease.close();
      }
    });
  });

  return app;
};
