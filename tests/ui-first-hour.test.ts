// A newcomer's first hour in the web UI (Debian's chromium via playwright-core, a real server, a
// stand-in builder speaking the real protocol): the token form leads sign-in while no one has a
// password; a project made in the UI shows its webhook secret once with a copy button; a failed
// job opens at its failing step; slices read `name [i/n]` and each gets its edges; jobs after a
// failure are "not run"; re-runs say their attempt; status glyphs are inline SVG.
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { createHmac } from "node:crypto";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import type { Page } from "playwright-core";
import type { ServerClient } from "../builder/client.ts";
import { buildUi } from "../ui/build.ts";
import {
  browserTestsEnabled,
  collectPageErrors,
  launchBrowser,
  screenshot,
  type TestBrowser,
} from "../ui/testing/browser.ts";
import { acquireJob, LogUploader, registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { json, startTestServer, type TestServer } from "./support/server.ts";

setDefaultTimeout(120_000);

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    parallelism: 2
    steps:
      - run: make
  test:
    machine: true
    steps:
      - run: make test
  deploy:
    machine: true
    steps:
      - run: make deploy
workflows:
  main:
    jobs:
      - build
      - test:
          requires: [build]
  gated:
    jobs:
      - hold:
          type: approval
      - deploy:
          requires: [hold]
`;

interface ApiJob {
  id: string;
  name: string;
  status: string;
  attempt: number;
  slice: { index: number; total: number };
  superseded_by: string | null;
  steps: { name: string; status: string; first_line: number | null }[];
}

let server: TestServer;
let browser: TestBrowser;
let page: Page;
let errors: string[];
let builder: ServerClient;
/** The git repositories this test made, removed after it. */
const repos: TestRepo[] = [];
const newRepo = () => {
  const repo = createRepo();
  repos.push(repo);
  return repo;
};

describe.skipIf(!browserTestsEnabled())("a newcomer's first hour in the UI", () => {
  // Each test has a server, builder and page of its own and makes what it needs (helpers below);
  // the browser is shared.
  beforeAll(async () => {
    await buildUi({ ifStale: true });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    server = await startTestServer();
    builder = await registerSimBuilder(server.url, server.token, "sim-first-hour");
    await browser.context.clearCookies();
    await browser.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
    page = await browser.newPage({ colorScheme: "light" });
    errors = collectPageErrors(page);
  });
  afterEach(async () => {
    await page?.close();
    await server?.stop();
    // createRepo leaves its bare repository and work tree in one temporary directory.
    for (const repo of repos.splice(0)) rmSync(dirname(repo.bare), { recursive: true, force: true });
    // No script error on any page the test opened (signed out, the session check answers 401).
    expect(errors.filter((e) => !/status of 401/.test(e))).toEqual([]);
  });

  async function signInWithToken(): Promise<void> {
    await page.goto(`${server.url}/login`);
    await page.waitForSelector("form.login-form");
    await page.fill("#token", server.token);
    await page.click("form.login-form button[type=submit]");
    await page.waitForSelector("h1:has-text('Recent pipelines')");
  }

  /** A project (made through the API) with a pipeline on main: its id. */
  async function pipeline(): Promise<string> {
    const repo = newRepo();
    repo.commit({ ".circleci/config.yml": CONFIG }, "config");
    const project = await json<{ id: string }>(
      server.api("/api/v1/projects", { method: "POST", json: { name: "newcomer/app", repo_url: repo.bare } }),
    );
    const created = await json<{ id: string }>(
      server.api(`/api/v1/projects/${project.id}/pipelines`, { method: "POST", json: { branch: "main" } }),
    );
    return created.id;
  }

  /** Runs the two slices of build: the first passes, the second fails in its second step. Its id. */
  async function runSlices(): Promise<string> {
    let failedSlice = "";
    for (let i = 0; i < 2; i++) {
      const job = await acquireJob(builder);
      const up = new LogUploader(builder, job.job.id);
      const slice = Number(job.environment.CIRCLE_NODE_INDEX);
      await builder.step(job.job.id, { index: 0, name: "checkout", status: "running", log_offset: 0 });
      up.write("cloning\ncloned\n");
      await up.drain();
      await builder.step(job.job.id, {
        index: 0,
        name: "checkout",
        status: "success",
        exit_code: 0,
        log_offset: 0,
      });
      if (slice === 0) {
        await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: up.offset });
        continue;
      }
      failedSlice = job.job.id;
      await builder.step(job.job.id, { index: 1, name: "make", status: "running", log_offset: up.offset });
      for (let n = 1; n <= 300; n++)
        up.write(n === 7 ? "\x1b[31merror: it broke\x1b[0m\n" : `compiling ${n}\n`);
      await up.drain();
      await builder.step(job.job.id, {
        index: 1,
        name: "make",
        status: "failed",
        exit_code: 2,
        log_offset: up.offset,
      });
      await builder.step(job.job.id, { index: 2, name: "after", status: "running", log_offset: up.offset });
      up.write("cleanup\n");
      await up.drain();
      await builder.step(job.job.id, {
        index: 2,
        name: "after",
        status: "success",
        exit_code: 0,
        log_offset: up.offset,
      });
      await builder.finish(job.job.id, { status: "failed", unsandboxed: true, log_bytes: up.offset });
    }
    return failedSlice;
  }

  test("while no user has a password, /login leads with the token form, focused", async () => {
    await page.goto(`${server.url}/login`);
    await page.waitForSelector("form.login-form");
    await page.waitForFunction(() => document.activeElement?.id === "token");
    const order = await page.evaluate(() =>
      [...document.querySelectorAll(".login-page form")]
        .filter((f) => !(f as HTMLElement).hidden)
        .map((f) => f.className),
    );
    expect(order[0]).toContain("login-form");
    await screenshot(page, "login-token-first");
    await page.fill("#token", server.token);
    await page.click("form.login-form button[type=submit]");
    await page.waitForSelector("h1:has-text('Recent pipelines')");
  });

  test("a project created in the UI shows its webhook secret once, with a copy button", async () => {
    await signInWithToken();
    await page.click("details.new-project summary");
    const repo = newRepo();
    repo.commit({ ".circleci/config.yml": CONFIG }, "config");
    await page.fill("#np-name", "newcomer/app");
    await page.fill("#np-repo", repo.bare);
    await page.click("details.new-project button[type=submit]");
    const once = page.locator(".project-created .shown-once");
    await once.waitFor();
    const secret = (await once.locator("code").textContent())!.trim();
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(await once.textContent()).toContain("shown only this once");
    await once.locator("button.copy").click();
    await page.waitForSelector(".project-created .shown-once button.copy:text-is('Copied')");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    const hookUrl = (await page.textContent(".project-created .webhook-url code"))!.trim();
    expect(hookUrl).toContain("/hooks/github/");
    // It is the project's real secret: a delivery signed with it is let in, one signed otherwise is not.
    const deliver = (key: string) => {
      const body = JSON.stringify({ zen: "first hour" });
      return fetch(hookUrl, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "ping",
          "x-github-delivery": crypto.randomUUID(),
          "x-hub-signature-256": `sha256=${createHmac("sha256", key).update(body).digest("hex")}`,
        },
        body,
      });
    };
    expect((await deliver(`${secret}x`)).status).toBe(401);
    expect((await deliver(secret)).status).toBeLessThan(300);
    await screenshot(page, "project-created-secret");

    // The secret is the project's: its settings say one is set, and never show it again.
    await page.click(".project-created a.button:has-text('Open newcomer/app')");
    await page.waitForSelector("h1:has-text('newcomer/app')");
    const projectId = new URL(page.url()).pathname.split("/")[2];
    const settings = await json<{ webhook_secret_set: boolean }>(server.api(`/api/v1/projects/${projectId}`));
    expect(settings.webhook_secret_set).toBe(true);
    expect(JSON.stringify(settings)).not.toContain(secret);
  });

  test("slices are `name [i/n]` with edges to each; after a failure the next job is not run", async () => {
    const pipelineId = await pipeline();
    await runSlices();
    await signInWithToken();
    const p = await json<{ jobs: ApiJob[] }>(server.api(`/api/v1/pipelines/${pipelineId}`));
    expect(p.jobs.find((j) => j.name === "test")!.status).toBe("not_run");

    await page.goto(`${server.url}/pipelines/${pipelineId}`);
    await page.waitForSelector(".job-node[data-job=test][data-status=not_run]");
    const labels = await page.locator(".job-node[data-job=build] .job-name").allTextContents();
    expect(labels.sort()).toEqual(["build [1/2]", "build [2/2]"]);
    expect(await page.textContent(".job-node[data-job=test] .status")).toContain("not run");
    // An edge from each slice of build to test.
    const testHref = await page.getAttribute(".job-node[data-job=test]", "href");
    await page.waitForFunction(
      (href) => document.querySelectorAll(`path.edge[data-to="${href}"]`).length === 2,
      testHref,
    );
    const froms = await page.$$eval(`path.edge[data-to="${testHref}"]`, (es) =>
      es.map((e) => e.getAttribute("data-from")),
    );
    const sliceHrefs = await page.$$eval(".job-node[data-job=build]", (es) =>
      es.map((e) => e.getAttribute("href")),
    );
    expect(froms.sort()).toEqual(sliceHrefs.sort());

    // The approval job is on hold, drawn as SVG; no status glyph is a font character.
    const hold = page.locator(".job-node[data-job=hold] .status-on-hold svg.status-icon[data-icon=on-hold]");
    await hold.waitFor();
    const box = await hold.boundingBox();
    expect(box!.width).toBeGreaterThan(8);
    expect(await hold.locator("path").count()).toBeGreaterThan(0);
    const icons = await page.$$eval(".status-icon", (es) =>
      es.map((e) => ({
        tag: e.tagName.toLowerCase(),
        text: e.textContent ?? "",
        paths: e.querySelectorAll("path").length,
      })),
    );
    expect(icons.length).toBeGreaterThan(4);
    for (const i of icons) expect(i).toEqual({ tag: "svg", text: "", paths: i.paths });
    expect(icons.every((i) => i.paths > 0)).toBe(true);
    await screenshot(page, "pipeline-slices-not-run");
  });

  test("a failed job opens at its first failing step: unfolded, its first line marked", async () => {
    await pipeline();
    const failedSlice = await runSlices();
    await signInWithToken();
    const job = await json<ApiJob>(server.api(`/api/v1/jobs/${failedSlice}`));
    const make = job.steps.find((s) => s.name === "make")!;
    expect(make.first_line).toBe(3);
    await page.goto(`${server.url}/jobs/${failedSlice}`);
    await page.waitForSelector(".log-viewer[data-ready=true]");
    expect(await page.textContent("h1")).toContain("build [2/2]");
    const open = page.locator("details.step[open]");
    await open.waitFor();
    expect(await open.count()).toBe(1);
    expect(await open.locator(".step-name").textContent()).toBe("make");
    const hl = page.locator(".log-row.highlighted");
    await hl.waitFor();
    expect(await hl.locator(".ln").textContent()).toBe(String(make.first_line));
    expect(await hl.isVisible()).toBe(true);
    await screenshot(page, "job-opens-at-failure");
  });

  test("a re-run says its attempt on the job page and in the graph", async () => {
    const pipelineId = await pipeline();
    const failedSlice = await runSlices();
    await signInWithToken();
    await page.goto(`${server.url}/jobs/${failedSlice}`);
    await page.waitForSelector(".log-viewer[data-ready=true]");
    await page.click("button.rerun");
    await page.waitForFunction((old) => !location.pathname.endsWith(old), failedSlice);
    await page.waitForSelector("h1 .attempt:has-text('attempt 2')");
    expect(await page.textContent("h1")).toContain("build [2/2]");
    expect(await page.getAttribute("dl.facts a:has-text('the previous attempt')", "href")).toBe(
      `/jobs/${failedSlice}`,
    );
    await page.goto(`${server.url}/pipelines/${pipelineId}`);
    const second = page.locator(".job-node[data-job=build][data-slice='1']");
    await second.waitFor();
    expect(await second.locator(".attempt").textContent()).toBe("attempt 2");
    expect(await page.locator(".job-node[data-job=build][data-slice='0'] .attempt").count()).toBe(0);
    // The earlier attempt links to the newer one.
    await page.goto(`${server.url}/jobs/${failedSlice}#L1`);
    await page.waitForSelector("dl.facts a:has-text('a newer attempt')");
  });

  test("once a user has a password, the password form leads and the token is one click away", async () => {
    await server.api("/api/v1/users", {
      method: "POST",
      json: { login: "newcomer", password: "a long enough password", role: "member" },
    });
    await page.goto(`${server.url}/login`);
    await page.waitForSelector("a.use-token:visible");
    await page.waitForFunction(() => document.activeElement?.id === "login");
    await page.click("a.use-token");
    await page.waitForFunction(() => document.activeElement?.id === "token");
  });
});
