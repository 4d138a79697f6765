// What a job stored, as the job page's tabs show it: artifacts (downloaded through the API with the
// session's own access) and test results from `store_test_results`, failures first.
import { api } from "../api.ts";
import { errorBox, loading } from "../components.ts";
import { h } from "../dom.ts";
import type { Artifact, TestCase, TestResults } from "../types.ts";

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function artifactsPanel(jobId: string): HTMLElement {
  const el = h("div.artifacts", { "aria-live": "polite" }, loading("Loading artifacts"));
  api<{ items: Artifact[] }>(`/jobs/${jobId}/artifacts`)
    .then(({ items }) => {
      el.dataset.count = String(items.length);
      el.replaceChildren(
        items.length === 0
          ? h(
              "p.muted",
              null,
              "This job stored no artifacts. A ",
              h("code", null, "store_artifacts"),
              " step keeps files from a build.",
            )
          : h(
              "table.artifact-list",
              null,
              h("caption.visually-hidden", null, "Artifacts of this job"),
              h(
                "thead",
                null,
                h("tr", null, h("th", { scope: "col" }, "Path"), h("th", { scope: "col" }, "Size")),
              ),
              h(
                "tbody",
                null,
                items.map((a) =>
                  h(
                    "tr",
                    { "data-path": a.path },
                    h(
                      "td",
                      { "data-label": "Path" },
                      // The API answers with Content-Disposition: attachment, so it downloads, never renders.
                      h("a.artifact", { href: a.url, download: a.path.split("/").pop() ?? "" }, a.path),
                    ),
                    h("td", { "data-label": "Size" }, formatBytes(a.size)),
                  ),
                ),
              ),
            ),
      );
    })
    .catch((err) => el.replaceChildren(errorBox(err)));
  return el;
}

const ORDER: Record<TestCase["status"], number> = { failed: 0, error: 1, skipped: 2, passed: 3 };

/** Failures first, then errors, skips and passes; the report's own order within each. */
export function failuresFirst(tests: TestCase[]): TestCase[] {
  return tests
    .map((t, i) => ({ t, i }))
    .sort((a, b) => ORDER[a.t.status] - ORDER[b.t.status] || a.i - b.i)
    .map(({ t }) => t);
}

export function testsPanel(jobId: string): HTMLElement {
  const el = h("div.test-results", { "aria-live": "polite" }, loading("Loading test results"));
  api<TestResults>(`/jobs/${jobId}/tests`)
    .then(({ summary, tests }) => {
      el.dataset.total = String(summary.total);
      if (summary.total === 0) {
        el.replaceChildren(
          h(
            "p.muted",
            null,
            "No test results. A ",
            h("code", null, "store_test_results"),
            " step with JUnit XML shows them here.",
          ),
        );
        return;
      }
      const sorted = failuresFirst(tests);
      const bad = summary.failed + summary.error;
      el.replaceChildren(
        h(
          "p.test-summary",
          { class: bad ? "bad" : "ok" },
          h("strong", null, bad ? `${bad} of ${summary.total} failed` : `All ${summary.total} passed`),
          ` · ${summary.passed} passed, ${summary.failed} failed, ${summary.error} errors, ${summary.skipped} skipped · ${summary.time} s`,
        ),
        h(
          "ol.test-list",
          null,
          sorted.map((t) => {
            const title = [t.classname, t.name].filter(Boolean).join(" › ");
            const head = [
              h("span.test-status", { class: `test-${t.status}` }, t.status),
              h("span.test-name", null, title),
              h("span.test-time.muted", null, `${t.time} s`),
            ];
            if (!t.message && !t.file)
              return h("li.test", { "data-status": t.status }, h("div.test-head", null, head));
            return h(
              "li.test",
              { "data-status": t.status },
              h(
                "details",
                { open: t.status === "failed" || t.status === "error" },
                h("summary.test-head", null, head),
                t.file && h("p.muted", null, "File ", h("code", null, t.file)),
                t.message && h("pre.test-message", null, t.message),
              ),
            );
          }),
        ),
      );
    })
    .catch((err) => el.replaceChildren(errorBox(err)));
  return el;
}
