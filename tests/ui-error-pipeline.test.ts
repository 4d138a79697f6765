// A push whose config is invalid, delivered through the real signed GitHub webhook, shows in the web
// UI (Debian's chromium via playwright-core, a real server, a real git repository): the project's
// pipelines page lists it in state `error`, and the pipeline's page lists every problem as
// file:line:col, the same ones the API gives; neither page reports a script error or a CSP violation.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import type { Page } from "playwright-core";
import { buildUi } from "../ui/build.ts";
import {
  browserTestsEnabled,
  collectPageErrors,
  launchBrowser,
  type TestBrowser,
} from "../ui/testing/browser.ts";
import { deliver, pushPayload } from "./support/forge.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

setDefaultTimeout(120_000);

// Three problems, each at its own place: an unknown key, a step list that is a number, a workflow
// naming a job that does not exist.
const INVALID = `version: 2.1
jobs:
  build:
    machine: true
    stepz: []
    steps: 3
workflows:
  main:
    jobs: [build, missing]
`;

type ApiPipeline = {
  id: string;
  status: string;
  config_errors: { file: string; line: number; col: number; message: string }[];
};

describe.skipIf(!browserTestsEnabled())("an invalid push in the UI", () => {
  let server: TestServer | undefined;
  let browser: TestBrowser | undefined;
  let page: Page | undefined;
  let errors: string[] = [];
  let repo: TestRepo | undefined;

  beforeAll(async () => {
    await buildUi({ ifStale: true });
    server = await startTestServer();
    browser = await launchBrowser();
    page = await browser.newPage({ colorScheme: "light" });
    errors = collectPageErrors(page);
    // CSP violations reach the console too; this names them even if a browser stops logging them.
    await page.addInitScript(() =>
      document.addEventListener("securitypolicyviolation", (e) =>
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
      ),
    );
  });
  afterAll(async () => {
    await page?.close().catch(() => {});
    await browser?.close();
    await server?.stop();
    // createRepo leaves its bare repository and work tree in one temporary directory.
    if (repo) rmSync(dirname(repo.bare), { recursive: true, force: true });
  });

  test("the hook answers 201 with an error pipeline; both pages show it with every problem at file:line:col", async () => {
    const srv = server!;
    const p = page!;
    repo = createRepo();
    const sha = repo.commit({ ".circleci/config.yml": INVALID }, "break the config");
    const created = await srv.api("/api/v1/projects", {
      method: "POST",
      json: { name: "broken/app", repo_url: repo.bare },
    });
    expect(created.status).toBe(201);
    const project = (await created.json()) as { id: string; webhook_secret: string };

    const hook = await deliver(srv.url, project.id, project.webhook_secret, {
      event: "push",
      body: JSON.stringify(pushPayload("main", sha, "break the config")),
    });
    expect(hook.status).toBe(201);
    const { pipeline: answered } = (await hook.json()) as { pipeline: { id: string } };
    const pipeline = (await (await srv.api(`/api/v1/pipelines/${answered.id}`)).json()) as ApiPipeline;
    expect(pipeline.status).toBe("error");
    const problems = pipeline.config_errors.map((e) => `${e.file}:${e.line}:${e.col}`);
    // Every problem, each where it is in the file.
    expect(problems).toEqual([
      ".circleci/config.yml:5:5",
      ".circleci/config.yml:6:12",
      ".circleci/config.yml:9:19",
    ]);

    // Signed in with the token, as a newcomer would be.
    await p.goto(`${srv.url}/login`);
    await p.waitForSelector("form.login-form");
    await p.fill("#token", srv.token);
    await p.click("form.login-form button[type=submit]");
    await p.waitForSelector("h1:has-text('Recent pipelines')");
    // Signed out, the session check answers 401 (and the console says so); nothing else may show.
    expect(errors.filter((e) => !/status of 401/.test(e))).toEqual([]);
    errors.length = 0;

    // The project's pipelines page: the pipeline is there, in state error.
    await p.goto(`${srv.url}/projects/${project.id}`);
    const row = p.locator(`tr[data-pipeline="${pipeline.id}"]`);
    await row.waitFor();
    expect(await row.getAttribute("data-status")).toBe("error");
    expect(await row.locator(".status").getAttribute("data-status")).toBe("error");

    // Its link leads to the pipeline's page: state error and every problem, file:line:col first.
    await row.locator(`a[href="/pipelines/${pipeline.id}"]`).click();
    await p.waitForURL(`${srv.url}/pipelines/${pipeline.id}`);
    const section = p.locator("section.config-errors");
    await section.waitFor();
    expect(await section.locator("h2").textContent()).toBe(
      `The config cannot run: ${problems.length} problem(s)`,
    );
    expect(await section.locator("li > code").allTextContents()).toEqual(problems);
    expect(await section.locator("li").allTextContents()).toEqual(
      pipeline.config_errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`),
    );
    expect(await p.locator("main .status[data-status='error']").count()).toBeGreaterThan(0);

    // Reloaded directly (not reached by a link), the page says the same.
    await p.reload();
    await section.waitFor();
    expect(await section.locator("li > code").allTextContents()).toEqual(problems);

    // No script error and no CSP violation on the pipelines page or the pipeline's page.
    expect(errors).toEqual([]);
  });
});
