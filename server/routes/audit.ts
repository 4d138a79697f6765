// GET /api/v1/audit: the security audit log, for administrators. Newest first, filterable, with
// cursor pagination; `?format=ndjson` (or Accept: application/x-ndjson) exports every matching event.
import { Hono } from "hono";
import { stream } from "hono/streaming";
import type { AppDeps } from "../deps.ts";
import { type AuthEnv, requireAdmin } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { type AuditRow, listAudit } from "../services/audit.ts";
import { iso } from "../services/ids.ts";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

export const presentAuditEvent = (r: AuditRow) => ({
  id: r.id,
  at: iso(r.at),
  actor: { type: r.actorType, id: r.actorId },
  action: r.action,
  target: r.targetType ? { type: r.targetType, id: r.targetId } : null,
  ip: r.ip,
  details: JSON.parse(r.details) as Record<string, unknown>,
});

export const auditRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();

  app.get("/audit", validate(ops.listAuditEvents), async (c) => {
    requireAdmin(c.get("user"), "read");
    const q = c.req.valid("query");
    const since = q.since ? (/^\d+$/.test(q.since) ? Number(q.since) : Date.parse(q.since)) : undefined;
    const filter = {
      action: q.action || undefined,
      actorType: q.actor_type,
      actorId: q.actor || q.actor_id || undefined,
      since,
    };
    const cursor = q.cursor ? Number(q.cursor) : undefined;
    const limit = q.limit;
    const ndjson = q.format === "ndjson" || (c.req.header("accept") ?? "").includes("application/x-ndjson");

    if (ndjson) {
      c.header("content-type", "application/x-ndjson; charset=utf-8");
      c.header("content-disposition", 'attachment; filename="cairn-audit.ndjson"');
      return stream(c, async (out) => {
        let before = cursor;
        let left = limit ?? Number.POSITIVE_INFINITY;
        while (left > 0) {
          const page = await listAudit(deps.db, { ...filter, before, limit: Math.min(MAX_LIMIT, left) });
          for (const row of page.rows) await out.write(`${JSON.stringify(presentAuditEvent(row))}\n`);
          left -= page.rows.length;
          if (page.next === null) break;
          before = page.next;
        }
      });
    }
    const page = await listAudit(deps.db, { ...filter, before: cursor, limit: limit ?? DEFAULT_LIMIT });
    return c.json({
      items: page.rows.map(presentAuditEvent),
      next_cursor: page.next === null ? null : String(page.next),
    });
  });

  return app;
};
