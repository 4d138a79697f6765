// Insights with real data from real runs: a real builder process (process driver, sandboxes under a
// TMPDIR of its own) runs one job on one commit four times; its JUnit report has a test that fails on
// odd pipeline numbers (and then fails the job), a slow test and a fast one. The REST API lists the
// flaky test at a 50% failure rate and the slow test first; the page in chromium shows the same,
// with both charts drawn by the server as SVG, and narrows to the workflow and the job.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Page } from "playwright-core";
import { buildUi } from "../ui/build.ts";
import {
  browserTestsEnabled,
  collectPageErrors,
  launchBrowser,
  screenshot,
  type TestBrowser,
} from "../ui/testing/browser.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { json, startTestServer, type TestServer } from "./support/server.ts";

setDefaultTimeout(180_000);

const RUNS = 4;
const CONFIG = `version: 2.1
jobs:
  test:
    machine: true
    steps:
      - checkout
      - run:
          name: run the tests
          command: |
            mkdir -p results
            verdict=''
            if [ $((CIRCLE_BUILD_NUM % 2)) = 1 ]; then verdict='<failure message="connection reset">retry budget exhausted</failure>'; fi
            printf '<testsuite name="unit"><testcase classname="net" name="retries" time="0.20">%s</testcase><testcase classname="db" name="slow query" time="3.50"/><testcase classname="math" name="adds" time="0.01"/></testsuite>\\n' "$verdict" > results/junit.xml
      - store_test_results:
          path: results
      - run:
          name: verdict
          command: "! grep -q '<failure' results/junit.xml"
workflows:
  ci:
    jobs: [test]
`;

interface Stats {
  runs: number;
  successes: number;
  success_rate: number | null;
  duration_ms: { p50: number | null; p95: number | null; max: number | null };
}

let server: TestServer;
let builder: BuilderProcess;
let projectId: string;
let repo: TestRepo | undefined;
const privateTmp = mkdtempSync(join(tmpdir(), "cairn-insights-"));

beforeAll(async () => {
  server = await startTestServer();
  repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG }, "config");
  projectId = (
    await json<{ id: string }>(
      server.api("/api/v1/projects", { method: "POST", json: { name: "flaky/app", repo_url: repo.bare } }),
    )
  ).id;
  builder = await startBuilder({
    server: server.url,
    adminToken: server.token,
    name: "insights",
    slots: 2,
    env: { TMPDIR: privateTmp },
  });
  // One commit, built four times.
  const ids: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const p = await json<{ id: string }>(
      server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } }),
    );
    ids.push(p.id);
  }
  for (const id of ids) {
    await until("the pipeline to finish", async () => {
      const p = await json<{ status: string }>(server.api(`/api/v1/pipelines/${id}`));
      return ["success", "failed"].includes(p.status);
    });
  }
});
afterAll(async () => {
  await builder?.stop();
  await server?.stop();
  rmSync(privateTmp, { recursive: true, force: true });
  // createRepo leaves its bare repository and work tree in one temporary directory.
  if (repo) rmSync(dirname(repo.bare), { recursive: true, force: true });
});

test("the API: four runs at 50%, the flaky test at a 50% failure rate, the slow test first", async () => {
  const project = await json<{ summary: Stats; breakdown: ({ name: string } & Stats)[]; series: Stats[] }>(
    server.api(`/api/v1/projects/${projectId}/insights`),
  );
  expect(project.summary.runs).toBe(RUNS);
  expect(project.summary.successes).toBe(RUNS / 2);
  expect(project.summary.success_rate).toBe(0.5);
  expect(project.summary.duration_ms.p50).toBeGreaterThan(0);
  expect(project.summary.duration_ms.p95).toBeGreaterThanOrEqual(project.summary.duration_ms.p50!);
  expect(project.breakdown.map((b) => [b.name, b.runs])).toEqual([["ci", RUNS]]);
  expect(project.series.reduce((n, b) => n + b.runs, 0)).toBe(RUNS);

  const job = await json<{ summary: Stats; breakdown: unknown[] }>(
    server.api(`/api/v1/projects/${projectId}/insights?workflow=ci&job=test&days=1`),
  );
  expect(job.summary.runs).toBe(RUNS);
  expect(job.summary.success_rate).toBe(0.5);
  expect(job.breakdown).toEqual([]);
  const none = await json<{ summary: Stats }>(
    server.api(`/api/v1/projects/${projectId}/insights?workflow=nope`),
  );
  expect(none.summary).toMatchObject({ runs: 0, success_rate: null });

  const tests = await json<{
    slowest: { classname: string; name: string; runs: number; mean_s: number }[];
    flaky: {
      classname: string;
      name: string;
      runs: number;
      failed: number;
      failure_rate: number;
      flaky_commits: number;
    }[];
  }>(server.api(`/api/v1/projects/${projectId}/insights/tests?workflow=ci`));
  expect(tests.flaky).toEqual([
    {
      classname: "net",
      name: "retries",
      file: null,
      runs: RUNS,
      passed: RUNS / 2,
      failed: RUNS / 2,
      failure_rate: 0.5,
      flaky_commits: 1,
    } as never,
  ]);
  expect(tests.slowest.map((t) => `${t.classname}.${t.name}`)).toEqual([
    "db.slow query",
    "net.retries",
    "math.adds",
  ]);
  expect(tests.slowest[0].mean_s).toBeCloseTo(3.5);
  expect(tests.slowest[0].runs).toBe(RUNS);

  const svg = await server.api(`/api/v1/projects/${projectId}/insights/chart.svg?metric=success_rate`);
  expect(svg.headers.get("content-type")).toStartWith("image/svg+xml");
  const text = await svg.text();
  expect(text).toStartWith("<svg");
  expect(text).toContain("Success rate — flaky/app");
  expect(text).toContain(": 50%</title>");

  const bad = await server.api(`/api/v1/projects/${projectId}/insights?days=500`);
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: { code: string } }).error.code).toBeString();
  expect((await server.api(`/api/v1/projects/${projectId}/insights/chart.svg`)).status).toBe(400);
  expect((await server.api("/api/v1/projects/no-such-project/insights")).status).toBe(404);
});

describe.skipIf(!browserTestsEnabled())("the Insights page in chromium", () => {
  let browser: TestBrowser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    await buildUi({ ifStale: true });
    browser = await launchBrowser();
    page = await browser.newPage({ colorScheme: "light" });
    errors = collectPageErrors(page);
    await page.goto(`${server.url}/login`);
    await page.fill("#token", server.token);
    await page.click("form.login-form button[type=submit]");
    await page.waitForSelector("h1:has-text('Recent pipelines')");
  });
  afterAll(async () => {
    await browser?.close();
  });

  test("project, workflow and job scopes: numbers, charts and the flaky test", async () => {
    await page.goto(`${server.url}/projects/${projectId}`);
    await page.click("a.button:has-text('Insights')");
    await page.waitForSelector(".insights-summary");
    expect(await page.textContent("h1")).toBe("Insights: flaky/app");
    expect(await page.textContent(".insights-summary [data-key=runs]")).toBe(String(RUNS));
    expect(await page.textContent(".insights-summary [data-key=success_rate]")).toBe("50%");

    // Both charts are SVG images the server drew, loaded and with their size.
    for (const metric of ["duration", "success_rate"]) {
      const img = page.locator(`img.insights-chart[data-metric=${metric}]`);
      await page.waitForFunction((m) => {
        const el = document.querySelector<HTMLImageElement>(`img.insights-chart[data-metric=${m}]`);
        return el?.complete && el.naturalWidth > 0;
      }, metric);
      expect(await img.evaluate((el: HTMLImageElement) => el.naturalWidth)).toBe(640);
      const src = (await img.getAttribute("src"))!;
      const body = await (await page.request.get(`${server.url}${src}`)).text();
      expect(body).toContain(metric === "duration" ? "p95" : "success rate");
    }

    const flaky = page.locator(".insights-flaky tbody tr");
    expect(await flaky.count()).toBe(1);
    expect(await flaky.getAttribute("data-test")).toBe("net › retries");
    expect(await flaky.locator("[data-key=failure_rate]").textContent()).toBe("50%");
    expect(await page.locator(".insights-slowest tbody tr").first().getAttribute("data-test")).toBe(
      "db › slow query",
    );
    await screenshot(page, "insights-project");

    // Down to the workflow, then to its job.
    await page.click(".insights-breakdown a:text-is('ci')");
    await page.waitForSelector("h1:text-is('Insights: flaky/app › ci')");
    expect(await page.textContent(".insights-breakdown tr[data-name=test]")).toContain("50%");
    await page.click(".insights-breakdown a:text-is('test')");
    await page.waitForSelector("h1:text-is('Insights: flaky/app › ci › test')");
    expect(await page.textContent(".insights-summary [data-key=runs]")).toBe(String(RUNS));
    expect(await page.locator(".insights-flaky tbody tr").count()).toBe(1);
    await screenshot(page, "insights-job");

    await page.click(".insights-window a:text-is('7d')");
    await page.waitForURL(/days=7/);
    await page.waitForSelector(".insights-window .current:text-is('7d')");
    expect(errors.filter((e) => !/status of 401/.test(e))).toEqual([]);
  });
});
