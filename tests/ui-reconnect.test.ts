// The job page's live log survives the server going away: the server process is killed with -9 and
// restarted while a job runs; the viewer reconnects its WebSocket with ?from= after the last line it
// has and shows every line exactly once, in order. The session (a database row) survives too.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Page } from "playwright-core";
import type { ServerClient } from "../builder/client.ts";
import { buildUi } from "../ui/build.ts";
import { browserTestsEnabled, launchBrowser, screenshot, type TestBrowser } from "../ui/testing/browser.ts";
import { acquireJob, LogUploader, registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { type ServerProcess, startServerProcess } from "./support/server-process.ts";

// A browser against a real server: seconds, not milliseconds, on a busy machine.
setDefaultTimeout(120_000); // as `npm test` sets it, for runs of this file alone

let dataDir: string | undefined;
let repo: TestRepo | undefined;
let server: ServerProcess;
let browser: TestBrowser;
let page: Page;
let builder: ServerClient;

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${server.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
  });

/** The visible rows as [line number, text]. */
const rows = (p: Page) =>
  p.$$eval(".log-row:not([hidden])", (els) =>
    els
      .map(
        (e) =>
          [Number(e.querySelector(".ln")?.textContent), e.querySelector(".lt")?.textContent ?? ""] as [
            number,
            string,
          ],
      )
      .sort((a, b) => a[0] - b[0]),
  );

/** What the log viewer shows: said by a wait that gives up. */
const viewerState = (p: Page) =>
  p
    .evaluate(() => {
      const v = document.querySelector(".log-viewer");
      if (!v) return "no log viewer";
      return `state=${v.getAttribute("data-state")} lines=${v.getAttribute("data-lines")} status=${document.querySelector(".job-status")?.getAttribute("data-status")}`;
    })
    .catch((e) => `(page unreadable: ${e})`);

/**
 * Waits until `ready` holds in the page. A restart on a loaded machine takes seconds, so 60 s is a
 * safety net; missing it says what it waited for and what the viewer showed.
 */
async function until(p: Page, what: string, ready: (arg: string) => boolean, arg = ""): Promise<void> {
  try {
    await p.waitForFunction(ready, arg, { timeout: 60_000 });
  } catch (err) {
    throw new Error(`waited 60 s for ${what}; the viewer showed ${await viewerState(p)}`, { cause: err });
  }
}

/** The viewer's data-state: `ready` for until, given the state as its argument (it runs in the page). */
const viewerIs = (state: string) =>
  document.querySelector(".log-viewer")?.getAttribute("data-state") === state;

describe.skipIf(!browserTestsEnabled())("live log across a server restart", () => {
  beforeAll(async () => {
    await buildUi({ ifStale: true });
    dataDir = mkdtempSync(join(tmpdir(), "cairn-ui-restart-"));
    server = await startServerProcess(dataDir);
    repo = createRepo();
    repo.commit({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: make\nworkflows:\n  main:\n    jobs: [build]\n",
    });
    const project = (await (
      await api("/api/v1/projects", {
        method: "POST",
        body: JSON.stringify({ name: "restart", repo_url: repo.bare }),
      })
    ).json()) as { id: string };
    await api(`/api/v1/projects/${project.id}/pipelines`, {
      method: "POST",
      body: JSON.stringify({ branch: "main" }),
    });
    builder = await registerSimBuilder(server.url, server.token, "sim-restart");
    browser = await launchBrowser();
    page = await browser.newPage();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    // createRepo leaves its bare repository and work tree in one temporary directory.
    if (repo) rmSync(dirname(repo.bare), { recursive: true, force: true });
  }, 30_000);

  test("kill -9 and restart mid-job: the viewer resumes after its last line, no gap, no duplicate", async () => {
    const job = await acquireJob(builder);
    const beat = setInterval(() => builder.heartbeat(job.job.id).catch(() => {}), 1000);
    try {
      const up = new LogUploader(builder, job.job.id);
      for (let i = 1; i <= 5; i++) up.write(`line ${i}\n`);
      await up.drain();

      await page.goto(`${server.url}/login?next=/jobs/${job.job.id}`);
      await page.fill("#token", server.token);
      await page.click("form.login-form button[type=submit]");
      await page.waitForURL(`${server.url}/jobs/${job.job.id}`);
      await until(
        page,
        "the viewer to show 5 lines",
        () => document.querySelector(".log-viewer")?.getAttribute("data-lines") === "5",
      );
      await until(page, "the viewer to go live", viewerIs, "live");
      await until(page, "line 5 on the page", () =>
        Boolean(document.querySelector(".log-viewer")?.textContent?.includes("line 5")),
      );

      await server.kill9();
      await until(page, "the viewer to notice the server is gone (connecting)", viewerIs, "connecting");
      server = await startServerProcess(dataDir!, { port: server.port });

      for (let i = 6; i <= 12; i++) up.write(`line ${i}\n`);
      await up.drain();
      await until(page, "the viewer to go live again after the restart", viewerIs, "live");
      await until(
        page,
        "the viewer to show 12 lines after the restart",
        () => document.querySelector(".log-viewer")?.getAttribute("data-lines") === "12",
      );
      await until(
        page,
        "no line left pending",
        () =>
          ![...document.querySelectorAll(".log-row:not([hidden])")].some((r) =>
            r.classList.contains("pending"),
          ),
      );
      expect(await rows(page)).toEqual(Array.from({ length: 12 }, (_, i) => [i + 1, `line ${i + 1}`]));
      await screenshot(page, "job-after-server-restart");

      await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: up.offset });
      await until(page, "the viewer to finish", viewerIs, "finished");
      await until(
        page,
        "the job's status to show success",
        () => document.querySelector(".job-status")?.getAttribute("data-status") === "success",
      );
    } finally {
      clearInterval(beat);
    }
  }, 300_000);
});
