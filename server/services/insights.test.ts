import { expect, test } from "bun:test";
import { percentile, stats } from "./insights.ts";
import { escapeXml, niceTop, renderChart } from "./insights-chart.ts";

test("nearest-rank percentiles and the stats of runs", () => {
  expect(percentile([], 50)).toBeNull();
  expect(percentile([7], 95)).toBe(7);
  const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  expect(percentile(ten, 50)).toBe(5);
  expect(percentile(ten, 95)).toBe(10);
  expect(percentile(ten, 90)).toBe(9);
  const s = stats([
    { name: "a", at: 0, ok: true, ms: 300 },
    { name: "a", at: 1, ok: false, ms: 100 },
    { name: "a", at: 2, ok: true, ms: null },
    { name: "a", at: 3, ok: true, ms: 200 },
  ]);
  expect(s).toEqual({
    runs: 4,
    successes: 3,
    failures: 1,
    success_rate: 0.75,
    duration_ms: { p50: 200, p95: 300, max: 300 },
  });
  expect(stats([]).success_rate).toBeNull();
});

test("charts: round axis tops, a gap where a bucket has no runs, every label escaped", () => {
  expect([niceTop(0), niceTop(0.5), niceTop(1), niceTop(3), niceTop(7300)]).toEqual([1, 0.5, 1, 5, 10000]);
  const svg = renderChart({
    title: `Duration — <a&b>`,
    buckets: [
      "2026-12-01T00:00:00.000Z",
      "2026-12-02T00:00:00.000Z",
      "2026-12-03T00:00:00.000Z",
      "2026-12-04T00:00:00.000Z",
    ],
    series: [{ name: "p50", values: [1000, null, 3000, 4000], colour: "#2f81f7" }],
    format: (v) => `${v / 1000}s`,
  });
  expect(svg).toStartWith("<svg");
  expect(svg).toContain('<title id="t">Duration — &lt;a&amp;b&gt;</title>');
  expect(svg).not.toContain("<a&b>");
  // Two pieces of line: before and after the empty bucket.
  const d = /<path d="([^"]+)"/.exec(svg)![1];
  expect(d.match(/M/g)).toHaveLength(2);
  expect(svg.match(/<circle /g)).toHaveLength(3);
  expect(svg).toContain("p50 12-04: 4s");
  expect(escapeXml(`"'`)).toBe("&quot;&#39;");
  const empty = renderChart({
    title: "x",
    buckets: ["2026-12-01T00:00:00.000Z"],
    series: [],
    format: String,
  });
  expect(empty).toContain("No finished runs in this window");
});
