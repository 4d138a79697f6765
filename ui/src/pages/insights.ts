// /projects/:id/insights[?workflow=W[&job=J]][&days=N]: how builds trend — runs, success rate and
// duration percentiles over time (charts drawn by the server as SVG), the next scope down, and the
// slowest and flaky tests. Every number comes from /api/v1/projects/:id/insights.
import { api } from "../api.ts";
import { load, loading, setTitle } from "../components.ts";
import { h } from "../dom.ts";
import type { Params } from "../router.ts";
import type { Project } from "../types.ts";

interface Stats {
  runs: number;
  successes: number;
  failures: number;
  success_rate: number | null;
  duration_ms: { p50: number | null; p95: number | null; max: number | null };
}
interface Insights {
  scope: { workflow: string | null; job: string | null };
  window: { from: string; to: string; bucket: "hour" | "day" };
  summary: Stats;
  breakdown: ({ name: string } & Stats)[];
}
interface TestRow {
  classname: string;
  name: string;
  file: string | null;
  runs: number;
}
interface Tests {
  slowest: (TestRow & { mean_s: number; max_s: number })[];
  flaky: (TestRow & { passed: number; failed: number; failure_rate: number; flaky_commits: number })[];
}

const DAYS = [1, 7, 30, 90];

const rate = (v: number | null) => (v === null ? "—" : `${Math.round(v * 100)}%`);

function ms(v: number | null): string {
  if (v === null) return "—";
  if (v < 1000) return `${Math.round(v)}ms`;
  const s = v / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
}

const seconds = (s: number) => (s < 1 ? `${Math.round(s * 1000)}ms` : `${s.toFixed(s < 10 ? 2 : 1)}s`);

const testName = (t: TestRow) => [t.classname, t.name].filter(Boolean).join(" › ");

export function insightsPage(root: HTMLElement, { id }: Params): void {
  root.replaceChildren(loading("Loading insights"));
  const q = new URLSearchParams(location.search);
  const workflow = q.get("workflow");
  const job = q.get("job");
  const days = DAYS.includes(Number(q.get("days"))) ? Number(q.get("days")) : 30;
  /** This page's URL with some parameters changed (null removes one). */
  const link = (change: Record<string, string | null>) => {
    const next = new URLSearchParams();
    const all = { workflow, job, days: days === 30 ? null : String(days), ...change };
    for (const [k, v] of Object.entries(all)) if (v) next.set(k, v);
    const s = next.toString();
    return `/projects/${id}/insights${s ? `?${s}` : ""}`;
  };
  const scopeQuery = new URLSearchParams({ days: String(days) });
  if (workflow) scopeQuery.set("workflow", workflow);
  if (job) scopeQuery.set("job", job);

  load(root, async () => {
    const [project, data, tests] = await Promise.all([
      api<Project>(`/projects/${id}`),
      api<Insights>(`/projects/${id}/insights?${scopeQuery}`),
      api<Tests>(`/projects/${id}/insights/tests?${scopeQuery}`),
    ]);
    setTitle("Insights", project.name);
    const where = [project.name, workflow, job].filter(Boolean).join(" › ");
    const chart = (metric: string, alt: string) =>
      h("img.insights-chart", {
        src: `/api/v1/projects/${id}/insights/chart.svg?${scopeQuery}&metric=${metric}`,
        alt: `${alt} for ${where}, last ${days} day${days === 1 ? "" : "s"}`,
        width: 640,
        height: 220,
        "data-metric": metric,
      });
    const s = data.summary;
    root.replaceChildren(
      h(
        "nav.crumbs",
        { "aria-label": "Breadcrumb" },
        h("a", { href: "/" }, "Dashboard"),
        " / ",
        h("a", { href: `/projects/${id}` }, project.name),
        " / ",
        workflow || job
          ? h("a", { href: link({ workflow: null, job: null }) }, "Insights")
          : h("span", null, "Insights"),
        ...(workflow
          ? [" / ", job ? h("a", { href: link({ job: null }) }, workflow) : h("span", null, workflow)]
          : []),
        ...(job ? [" / ", h("span", null, job)] : []),
      ),
      h("div.page-head", null, h("h1", null, `Insights: ${where}`)),
      h(
        "nav.insights-window",
        { "aria-label": "Time window" },
        ...DAYS.map((d) =>
          d === days
            ? h("span.current", { "aria-current": "true" }, `${d}d`)
            : h("a", { href: link({ days: d === 30 ? null : String(d) }) }, `${d}d`),
        ),
      ),
      h(
        "dl.facts.insights-summary",
        null,
        h("dt", null, "Runs"),
        h("dd", { "data-key": "runs" }, String(s.runs)),
        h("dt", null, "Success rate"),
        h("dd", { "data-key": "success_rate" }, rate(s.success_rate)),
        h("dt", null, "Duration p50"),
        h("dd", { "data-key": "p50" }, ms(s.duration_ms.p50)),
        h("dt", null, "Duration p95"),
        h("dd", { "data-key": "p95" }, ms(s.duration_ms.p95)),
      ),
      h(
        "div.insights-charts",
        null,
        chart("duration", "Duration p50 and p95"),
        chart("success_rate", "Success rate"),
      ),
      data.breakdown.length === 0
        ? ""
        : h(
            "section",
            { "aria-labelledby": "breakdown-title" },
            h("h2#breakdown-title", null, workflow ? "Jobs" : "Workflows"),
            h(
              "table.insights-breakdown",
              null,
              h(
                "thead",
                null,
                h(
                  "tr",
                  null,
                  ...[workflow ? "Job" : "Workflow", "Runs", "Success rate", "p50", "p95"].map((t) =>
                    h("th", { scope: "col" }, t),
                  ),
                ),
              ),
              h(
                "tbody",
                null,
                data.breakdown.map((b) =>
                  h(
                    "tr",
                    { "data-name": b.name },
                    h(
                      "td",
                      null,
                      h("a", { href: link(workflow ? { job: b.name } : { workflow: b.name }) }, b.name),
                    ),
                    h("td", null, String(b.runs)),
                    h("td", null, rate(b.success_rate)),
                    h("td", null, ms(b.duration_ms.p50)),
                    h("td", null, ms(b.duration_ms.p95)),
                  ),
                ),
              ),
            ),
          ),
      h(
        "section",
        { "aria-labelledby": "flaky-title" },
        h("h2#flaky-title", null, "Flaky tests"),
        h("p.muted", null, "Tests that failed and passed on the same commit."),
        tests.flaky.length === 0
          ? h("p.muted.empty", null, "No flaky tests in this window.")
          : h(
              "table.insights-flaky",
              null,
              h(
                "thead",
                null,
                h(
                  "tr",
                  null,
                  ...["Test", "Runs", "Failed", "Failure rate", "Flaky commits"].map((t) =>
                    h("th", { scope: "col" }, t),
                  ),
                ),
              ),
              h(
                "tbody",
                null,
                tests.flaky.map((t) =>
                  h(
                    "tr",
                    { "data-test": testName(t) },
                    h("td", { title: t.file ?? "" }, testName(t)),
                    h("td", null, String(t.runs)),
                    h("td", null, String(t.failed)),
                    h("td", { "data-key": "failure_rate" }, rate(t.failure_rate)),
                    h("td", null, String(t.flaky_commits)),
                  ),
                ),
              ),
            ),
      ),
      h(
        "section",
        { "aria-labelledby": "slowest-title" },
        h("h2#slowest-title", null, "Slowest tests"),
        tests.slowest.length === 0
          ? h("p.muted.empty", null, "No test results in this window: store them with store_test_results.")
          : h(
              "table.insights-slowest",
              null,
              h(
                "thead",
                null,
                h("tr", null, ...["Test", "Runs", "Mean", "Max"].map((t) => h("th", { scope: "col" }, t))),
              ),
              h(
                "tbody",
                null,
                tests.slowest.map((t) =>
                  h(
                    "tr",
                    { "data-test": testName(t) },
                    h("td", { title: t.file ?? "" }, testName(t)),
                    h("td", null, String(t.runs)),
                    h("td", null, seconds(t.mean_s)),
                    h("td", null, seconds(t.max_s)),
                  ),
                ),
              ),
            ),
      ),
    );
  });
}
