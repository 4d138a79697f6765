// The web UI in a real browser (Debian's chromium via playwright-core) against a real server, with a
// stand-in builder speaking the real protocol so the test decides when log lines appear: sign in,
// a live dashboard, trigger from the project page, the pipeline graph, a job's log arriving while it
// runs with colours as computed styles, cancel, permalinks, search, themes and phone widths.
// Screenshots of each page go to test-output/screenshots/.
// The server, project, stand-in builder and browser are shared; each test opens its own page, signs
// in (unless it tests signing in), makes the pipelines and jobs it needs, and cancels what it left
// unfinished, so any test passes alone (`-t`) and in any order.
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
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import type { Page } from "playwright-core";
import type { ServerClient } from "../builder/client.ts";
import type { JobPayload } from "../protocol/index.ts";
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

// A browser against a real server: seconds, not milliseconds, on a busy machine.
setDefaultTimeout(120_000); // as `npm test` sets it, for runs of this file alone

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
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
      - deploy:
          requires: [build, test]
`;

let server: TestServer;
let browser: TestBrowser;
let page: Page;
let errors: string[];
let builder: ServerClient;
let projectId: string;
let repo: TestRepo | undefined;
/** Heartbeat loops a test started; stopped after it. */
const beats: (() => void)[] = [];

/** Keeps a sim job's lease alive like a builder's heartbeat loop; calls onCancel when told to stop. */
function heartbeat(jobId: string, onCancel: () => void): () => void {
  let stopped = false;
  const timer = setInterval(async () => {
    const r = await builder.heartbeat(jobId).catch(() => null);
    if (r?.action === "cancel" && !stopped) {
      stopped = true;
      onCancel();
    }
  }, 1000);
  return () => clearInterval(timer);
}

/** Signs the browser in as the admin, as the login page would (the session cookie lands in the context). */
async function signIn(): Promise<void> {
  const res = await browser.context.request.post(`${server.url}/api/v1/session`, {
    data: { token: server.token },
  });
  expect(res.status()).toBe(201);
}

/** A new pipeline of the project, by API. */
const newPipeline = () =>
  json<{ id: string; number: number; jobs: { id: string; name: string }[] }>(
    server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } }),
  );

/** A job the stand-in builder holds, running, heartbeating, with a step and two lines of log. */
async function runningJob() {
  await newPipeline();
  const job = await acquireJob(builder);
  let canceled = false;
  const stopBeat = heartbeat(job.job.id, () => {
    canceled = true;
  });
  beats.push(stopBeat);
  await builder.step(job.job.id, { index: 0, name: "make", status: "running", log_offset: 0 });
  const up = new LogUploader(builder, job.job.id);
  up.write("starting build\nstill building\n");
  await up.drain();
  return { job, up, stopBeat, canceled: () => canceled };
}

/** Cancels every job of the project still queued or running, so the next acquire gets the next test's job. */
async function cancelUnfinished(): Promise<void> {
  const list = await json<{ items: { jobs: { id: string; status: string }[] }[] }>(
    server.api(`/api/v1/projects/${projectId}/pipelines?limit=100`),
  );
  for (const j of list.items.flatMap((p) => p.jobs))
    if (j.status === "queued" || j.status === "running")
      await server.api(`/api/v1/jobs/${j.id}/cancel`, { method: "POST" });
}

describe.skipIf(!browserTestsEnabled())("web UI in chromium", () => {
  beforeAll(async () => {
    await buildUi({ ifStale: true });
    server = await startTestServer();
    repo = createRepo();
    repo.commit({ ".circleci/config.yml": CONFIG }, "config");
    projectId = (
      await json<{ id: string }>(
        server.api("/api/v1/projects", { method: "POST", json: { name: "acme/web", repo_url: repo.bare } }),
      )
    ).id;
    builder = await registerSimBuilder(server.url, server.token, "sim-1");
    browser = await launchBrowser();
  }, 120_000);
  beforeEach(async () => {
    page = await browser.newPage({ colorScheme: "light" });
    errors = collectPageErrors(page);
    await signIn();
  });
  afterEach(async () => {
    for (const stop of beats.splice(0)) stop();
    // The theme is remembered in localStorage, shared by every page of the browser.
    await page.evaluate(() => localStorage.clear()).catch(() => {});
    await page.close();
    await cancelUnfinished();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    // createRepo leaves its bare repository and work tree in one temporary directory.
    if (repo) rmSync(dirname(repo.bare), { recursive: true, force: true });
  }, 30_000);

  test("signed out, any page leads to /login; a wrong token is refused; the right one signs in with an httpOnly cookie", async () => {
    await browser.context.clearCookies();
    await page.goto(`${server.url}/projects/${projectId}`);
    await page.waitForURL(/\/login\?next=/);
    expect(await page.textContent("#token-help")).toContain("initial-admin-token");
    await screenshot(page, "login");
    await page.fill("#token", "cairn_pat_wrongwrongwrongwrongwrongwrongwrongwrongwro");
    await page.click("form.login-form button[type=submit]");
    await page.waitForSelector("form.login-form [role=alert]");
    expect(await page.textContent("form.login-form [role=alert]")).toContain("not valid");

    await page.fill("#token", server.token);
    await page.click("form.login-form button[type=submit]");
    // Back where we were going.
    await page.waitForURL(`${server.url}/projects/${projectId}`);
    await page.waitForSelector("h1:has-text('acme/web')");
    const cookies = await browser.context.cookies(server.url);
    const session = cookies.find((c) => c.name === "cairn_session")!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe("Strict");
    // The token itself is kept nowhere the page's scripts can reach.
    const stored = await page.evaluate(
      () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie,
    );
    expect(stored).not.toContain(server.token);
  });

  test("the dashboard shows a new pipeline and its status changes live, without a reload", async () => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector(".live[data-live=true]");
    const created = await json<{ id: string; number: number }>(
      server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } }),
    );
    const row = page.locator(`tr[data-pipeline="${created.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    expect(await row.textContent()).toContain(`#${created.number}`);
    expect(await row.textContent()).toContain("acme/web");
    await screenshot(page, "dashboard");
    // Its status follows live too: cancel its jobs through the API and watch the row change.
    const p = await json<{ jobs: { id: string }[] }>(server.api(`/api/v1/pipelines/${created.id}`));
    for (const j of p.jobs) await server.api(`/api/v1/jobs/${j.id}/cancel`, { method: "POST" });
    await page
      .locator(`tr[data-pipeline="${created.id}"][data-status=canceled]`)
      .waitFor({ timeout: 10_000 });
  });

  test("trigger a pipeline from the project page; the pipeline page draws the job graph from `requires`", async () => {
    await page.goto(`${server.url}/`);
    await page.click("aside.projects a:has-text('acme/web')");
    await page.waitForSelector("form.trigger");
    await screenshot(page, "project");
    await page.fill("#trigger-branch", "main");
    await page.click("form.trigger button[type=submit]");
    await page.waitForURL(/\/pipelines\/[\w-]+$/);
    const triggered = new URL(page.url()).pathname.split("/").pop()!;
    await page.waitForSelector(".workflow .job-node");
    const columns = await page.$$eval(".graph-column", (cols) =>
      cols.map((c) => [...c.querySelectorAll(".job-name")].map((n) => n.textContent)),
    );
    expect(columns).toEqual([["build"], ["test"], ["deploy"]]);
    // Three edges: build→test, build→deploy, test→deploy.
    await page.waitForFunction(() => document.querySelectorAll(".graph .edge").length === 3);
    await screenshot(page, "pipeline");
    // The project page lists it too (a real, bookmarkable URL).
    await page.goto(`${server.url}/projects/${projectId}`);
    await page.locator(`table.pipelines tbody tr[data-pipeline="${triggered}"]`).waitFor();
  });

  test("a pipeline answered before its setup shows it fetching, then its workflows, live", async () => {
    // The server's mirror waits for the test: the pipeline stays `fetching` until released.
    const source = server.deps.source;
    const resolve = source.resolve;
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    source.resolve = async (...a) => {
      await held;
      return resolve.apply(source, a);
    };
    try {
      const answered = await json<{ id: string; status: string }>(
        server.api(`/api/v1/projects/${projectId}/pipelines`, {
          method: "POST",
          json: { branch: "main" },
          headers: { prefer: "respond-async" },
        }),
      );
      expect(answered.status).toBe("created");
      await page.goto(`${server.url}/pipelines/${answered.id}`);
      await page.locator(".setup-progress[data-setup=fetching]").waitFor();
      release();
      await page.waitForSelector(".workflow .job-node");
      expect(await page.locator(".setup-progress").count()).toBe(0);
      // Its jobs would be the next test's to acquire: cancelled.
      const planned = await json<{ jobs: { id: string }[] }>(server.api(`/api/v1/pipelines/${answered.id}`));
      for (const j of planned.jobs) await server.api(`/api/v1/jobs/${j.id}/cancel`, { method: "POST" });
    } finally {
      source.resolve = resolve;
      release();
    }
  });

  test("a job opened while queued starts live when a builder takes it; lines appear coloured by computed styles", async () => {
    // Open a new pipeline's first job from the graph while it still waits for a builder.
    const pipeline = await newPipeline();
    await page.goto(`${server.url}/pipelines/${pipeline.id}`);
    await page.click(".job-node[data-job=build]");
    await page.waitForURL(/\/jobs\/[\w-]+$/);
    const jobId = new URL(page.url()).pathname.split("/").pop()!;
    await page.waitForSelector(".job-status[data-status=queued]");
    await page.waitForSelector(".log-viewer[data-state=live]");

    const running: JobPayload = await acquireJob(builder);
    expect(running.job.id).toBe(jobId);
    beats.push(heartbeat(running.job.id, () => {}));
    await builder.step(running.job.id, { index: 0, name: "make", status: "running", log_offset: 0 });
    const up = new LogUploader(builder, running.job.id);
    up.write("starting build\n\x1b[31mred error\x1b[0m plain\n");
    await up.drain();

    await page.waitForSelector(".job-status[data-status=running]", { timeout: 10_000 });
    await page.waitForFunction(() =>
      document.querySelector(".log-viewer")?.textContent?.includes("red error"),
    );
    const red = page.locator(".log-row .fg-1", { hasText: "red error" });
    expect(await red.evaluate((el) => getComputedStyle(el).color)).toBe("rgb(179, 38, 30)"); // --ansi-1, light theme

    // Lines written now arrive over the WebSocket, in order, while the job runs.
    up.write(
      "\x1b[1;38;5;208mbold orange 256\x1b[0m\n\x1b[38;2;10;200;30mtruecolor green\x1b[0m\n\x1b]8;;https://example.com/docs\x07a link\x1b]8;;\x07\n",
    );
    for (let i = 1; i <= 20; i++) up.write(`step output ${i}\n`);
    await up.drain();
    await page.waitForFunction(
      () => document.querySelector(".log-viewer")?.getAttribute("data-lines") === "25",
    );
    await page.waitForFunction(() =>
      document.querySelector(".log-viewer")?.textContent?.includes("step output 20"),
    );
    const orange = page.locator(".log-row .fg-208");
    expect(
      await orange.evaluate((el) => [getComputedStyle(el).color, getComputedStyle(el).fontWeight]),
    ).toEqual(["rgb(255, 135, 0)", "700"]);
    const green = page.locator(".log-row .lt > span", { hasText: "truecolor green" });
    expect(await green.evaluate((el) => getComputedStyle(el).color)).toBe("rgb(10, 200, 30)");
    const link = page.locator(".log-row a[href='https://example.com/docs']");
    expect(await link.getAttribute("rel")).toContain("noopener");
    // Following the tail: the newest line is in view.
    expect(await page.locator(".log-row:not([hidden])", { hasText: "step output 20" }).isVisible()).toBe(
      true,
    );
    // The step the builder reported shows up without a reload.
    await page.waitForSelector(".step-list .step-name:text-is('make')", { timeout: 10_000 });
    await screenshot(page, "job-running");
  });

  test("cancel stops the running job and the page shows it", async () => {
    const running = await runningJob();
    await page.goto(`${server.url}/jobs/${running.job.job.id}`);
    await page.waitForSelector(".job-status[data-status=running]");
    await page.click("button:has-text('Cancel job')");
    await page.waitForSelector(".job-status[data-status=canceled]");
    // The builder hears "cancel" on its next heartbeat and ends the job, which ends the log stream.
    // Heartbeats come every second: 30 s is a safety net, and a miss says so.
    for (let i = 0; i < 600 && !running.canceled(); i++) await Bun.sleep(50);
    expect(running.canceled(), "the builder heard no cancel on its heartbeats within 30 s").toBe(true);
    running.stopBeat();
    const done = await builder.finish(running.job.job.id, {
      status: "canceled",
      unsandboxed: true,
      log_bytes: running.up.offset,
    });
    expect(done.ok).toBe(true);
    await page.waitForSelector(".log-viewer[data-state=finished]");
    expect(await page.locator("button:has-text('Cancel job')").count()).toBe(0);
  });

  test("a finished job: unsandboxed warning, steps with exit codes, #L permalink, search, downloads", async () => {
    await newPipeline();
    const job = await acquireJob(builder);
    const up = new LogUploader(builder, job.job.id);
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
    await builder.step(job.job.id, { index: 1, name: "make test", status: "running", log_offset: up.offset });
    for (let i = 1; i <= 200; i++)
      up.write(i === 150 ? "\x1b[31mFAIL needle-in-the-log\x1b[0m\n" : `test ${i} ok\n`);
    await up.drain();
    await builder.step(job.job.id, {
      index: 1,
      name: "make test",
      status: "failed",
      exit_code: 2,
      log_offset: 2,
    });
    await builder.finish(job.job.id, { status: "failed", unsandboxed: true, log_bytes: up.offset });

    await page.goto(`${server.url}/jobs/${job.job.id}#L100`);
    await page.waitForSelector(".log-viewer[data-ready=true]");
    expect(await page.textContent("[role=alert].warning")).toContain("Unsandboxed");
    const hl = page.locator(".log-row.highlighted");
    await hl.waitFor();
    expect(await hl.locator(".ln").textContent()).toBe("100");
    expect(await hl.isVisible()).toBe(true);
    expect(await page.textContent(".step-list")).toContain("exit 2");
    // Steps collapse and expand.
    const step = page.locator("details.step", { hasText: "make test" });
    await step.locator("summary").click();
    expect(await step.getAttribute("open")).not.toBeNull();
    expect(await step.textContent()).toContain("from line 3");

    await page.fill("#log-search", "needle-in-the");
    await page.keyboard.press("Enter");
    await page.waitForSelector(".log-row.current-match mark");
    expect(await page.locator(".log-row.current-match .ln").textContent()).toBe("152");
    expect(await page.textContent(".search-status")).toContain("152");
    await screenshot(page, "job-finished");

    // A click on a line number is a permalink.
    await page.locator(".log-row .ln", { hasText: /^140$/ }).click();
    expect(new URL(page.url()).hash).toBe("#L140");

    const raw = await page.getAttribute("a.download:has-text('raw')", "href");
    const res = await page.request.get(`${server.url}${raw}`);
    expect(res.status()).toBe(200);
    expect(await res.text()).toContain("\x1b[31mFAIL needle-in-the-log");
  });

  test("a job that ran in an image names it and its digest", async () => {
    await newPipeline();
    const job = await acquireJob(builder);
    const image = { name: "cairn/debian:bookworm", digest: `sha256:${"ab".repeat(32)}` };
    await builder.step(job.job.id, {
      index: 0,
      name: "Spin up environment",
      status: "running",
      log_offset: 0,
    });
    await builder.step(job.job.id, {
      index: 0,
      name: "Spin up environment",
      status: "success",
      exit_code: 0,
      log_offset: 0,
      image,
    });
    await builder.finish(job.job.id, { status: "success", log_bytes: 0 });
    const answer = (await (await server.api(`/api/v1/jobs/${job.job.id}`)).json()) as { image: unknown };
    expect(answer.image).toEqual(image);

    await page.goto(`${server.url}/jobs/${job.job.id}`);
    const line = page.locator("dd.job-image");
    await line.waitFor();
    expect(await line.textContent()).toBe(`${image.name} ${image.digest}`);
    expect(await page.textContent("dl.facts")).not.toContain("runs on LXC template");
  });

  test("builders page lists the fleet", async () => {
    await page.goto(`${server.url}/`);
    await page.click("nav.site-nav a:has-text('Builders')");
    await page.waitForSelector("table.builders");
    expect(await page.textContent("table.builders")).toContain("sim-1");
    expect(await page.textContent("table.builders")).toContain("process (unsandboxed)");
    await screenshot(page, "builders");
  });

  test("dark theme toggle, remembered; phone width lays out without horizontal scrolling", async () => {
    const running = await runningJob();
    await page.goto(`${server.url}/`);
    await page.click("button.theme-toggle");
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
    await page.reload();
    await page.waitForSelector("h1:has-text('Recent pipelines')");
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe(
      "rgb(13, 17, 23)",
    );
    await screenshot(page, "dashboard-dark");

    const phone = await browser.newPage({ width: 390, height: 844, colorScheme: "dark" });
    await phone.goto(`${server.url}/projects/${projectId}`);
    await phone.waitForSelector("table.pipelines tbody tr");
    expect(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await screenshot(phone, "project-phone-dark");
    await phone.goto(`${server.url}/jobs/${running.job.job.id}`);
    await phone.waitForSelector(".log-viewer[data-ready=true]");
    expect(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await screenshot(phone, "job-phone-dark");
    await phone.close();
    await page.click("button.theme-toggle");
  });

  test("keyboard: the skip link and the log are reachable, and every input has a label", async () => {
    const running = await runningJob();
    await page.goto(`${server.url}/jobs/${running.job.job.id}`);
    await page.waitForSelector(".log-viewer[data-ready=true]");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.className)).toBe("skip-link");
    const unlabeled = await page.$$eval(
      "input",
      (inputs) =>
        inputs.filter(
          (i) => !(i.id && document.querySelector(`label[for="${i.id}"]`)) && !i.getAttribute("aria-label"),
        ).length,
    );
    expect(unlabeled).toBe(0);
    await page.focus(".log-scroller");
    expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Job log");
  });

  test("sign out ends the session; the pages ask to sign in again", async () => {
    await page.goto(`${server.url}/`);
    await page.click("button:has-text('Sign out')");
    await page.waitForURL(/\/login/);
    expect((await browser.context.cookies(server.url)).some((c) => c.name === "cairn_session")).toBe(false);
    await page.goto(`${server.url}/builders`);
    await page.waitForURL(/\/login\?next=%2Fbuilders/);
  });

  test("no script errors and no Content-Security-Policy violations on any page", async () => {
    const running = await runningJob();
    const pipelines = await json<{ items: { id: string }[] }>(
      server.api(`/api/v1/projects/${projectId}/pipelines`),
    );
    for (const path of [
      "/",
      `/projects/${projectId}`,
      `/pipelines/${pipelines.items[0].id}`,
      `/jobs/${running.job.job.id}`,
      "/builders",
    ]) {
      await page.goto(`${server.url}${path}`);
      await page.waitForSelector("h1");
    }
    const real = errors.filter((e) => !/status of 401/.test(e));
    expect(real).toEqual([]);
  });
});
