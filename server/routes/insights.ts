// Insights: how a project's builds trend (server/services/insights.ts), as JSON and as SVG charts
// drawn here, so the UI needs no charting library and the picture is the API's own.
import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { requireProjectRole } from "../services/access.ts";
import { type InsightsScope, InsightsService } from "../services/insights.ts";
import { formatDuration, formatRate, renderChart } from "../services/insights-chart.ts";

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** The last `days` days up to the end of this hour; hourly buckets for a window of two days or less. */
function scopeOf(
  projectId: string,
  q: { days?: number; workflow?: string; job?: string },
  now = Date.now(),
): InsightsScope {
  const days = q.days ?? 30;
  const bucketMs = days <= 2 ? HOUR : DAY;
  const to = Math.ceil((now + 1) / HOUR) * HOUR;
  return { projectId, workflow: q.workflow, job: q.job, from: to - days * DAY, to, bucketMs };
}

export const insightRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const insights = new InsightsService(deps.db);

  app.get("/projects/:id/insights", validate(ops.getInsights), async (c) => {
    const id = c.req.param("id");
    await requireProjectRole(deps, c.get("user"), id, "read");
    return c.json(await insights.scope(scopeOf(id, c.req.valid("query"))));
  });

  app.get("/projects/:id/insights/tests", validate(ops.getInsightsTests), async (c) => {
    const id = c.req.param("id");
    await requireProjectRole(deps, c.get("user"), id, "read");
    return c.json(await insights.tests(scopeOf(id, c.req.valid("query"))));
  });

  app.get("/projects/:id/insights/chart.svg", validate(ops.getInsightsChart), async (c) => {
    const id = c.req.param("id");
    const project = await requireProjectRole(deps, c.get("user"), id, "read");
    const q = c.req.valid("query");
    const data = await insights.scope(scopeOf(id, q));
    const what = [project.name, q.workflow, q.job].filter(Boolean).join(" › ");
    const buckets = data.series.map((b) => b.start);
    const svg =
      q.metric === "duration"
        ? renderChart({
            title: `Duration — ${what}`,
            buckets,
            series: [
              { name: "p50", values: data.series.map((b) => b.duration_ms.p50), colour: "#2f81f7" },
              { name: "p95", values: data.series.map((b) => b.duration_ms.p95), colour: "#d29922" },
            ],
            format: formatDuration,
          })
        : renderChart({
            title: `Success rate — ${what}`,
            buckets,
            series: [
              { name: "success rate", values: data.series.map((b) => b.success_rate), colour: "#3fb950" },
            ],
            format: formatRate,
            minTop: 1,
          });
    return c.body(svg, 200, {
      "content-type": "image/svg+xml; charset=utf-8",
      "cache-control": "private, max-age=60",
    });
  });

  return app;
};
