// Schedules fire end to end, with time driven by the test (the runner's tick(now)), never by sleeping:
// a project schedule fires a real pipeline that a real builder process (process driver) runs to
// success, triggered as its actor, with its parameters and `pipeline.trigger_source`/`schedule.name`;
// a config `triggers: schedule` workflow never runs for a push but fires on its branch, alone, once
// even when two server processes tick together and even after days of missed fires.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Page } from "playwright-core";
import { openDb } from "../server/db/client.ts";
import { type Fired, ScheduleRunner } from "../server/services/schedule-runner.ts";
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

const CONFIG = `version: 2.1
parameters:
  who:
    type: string
    default: nobody
jobs:
  build:
    machine: true
    steps:
      - run: echo "built for << pipeline.parameters.who >> by << pipeline.trigger_source >> (<< pipeline.schedule.name >>)"
  soak:
    machine: true
    steps:
      - run: echo "soaking overnight"
workflows:
  push:
    jobs: [build]
  nightly:
    triggers:
      - schedule:
          cron: "0 3 * * *"
          filters: {branches: {only: [main, /feature-.*/]}}
    jobs: [soak]
`;

interface Pipeline {
  id: string;
  status: string;
  trigger: string;
  metadata: { schedule?: { id: string; name: string; source: string }; actor?: { login: string } } | null;
  workflows: { name: string }[];
  jobs: { id: string; name: string; status: string }[];
}
interface Schedule {
  id: string;
  source: string;
  branch: string | null;
  next_run_at: string;
  last_pipeline_id: string | null;
  last_error: string | null;
}

let server: TestServer;
let builder: BuilderProcess;
let projectId: string;
let repo: TestRepo;
/** The pipelines the schedules made: by the project schedule, by the config's (the tests below that need them make them when run alone). */
const made: { api?: string; config?: string } = {};
const privateTmp = mkdtempSync(join(tmpdir(), "cairn-schedules-"));

const finished = (id: string) =>
  until(`pipeline ${id} to finish`, async (note) => {
    const p = await json<Pipeline>(server.api(`/api/v1/pipelines/${id}`));
    note(p.status);
    return ["success", "failed", "canceled", "error"].includes(p.status) && p;
  });
const schedules = async () =>
  (await json<{ items: Schedule[] }>(server.api(`/api/v1/projects/${projectId}/schedules`))).items;
const log = async (jobId: string) => (await server.api(`/api/v1/jobs/${jobId}/log?format=text`)).text();

/** main's config schedule, which a pipeline on main records: the first test's push, or one made here. */
async function mainConfigSchedule(): Promise<Schedule> {
  const mine = (list: Schedule[]) => list.find((x) => x.source === "config" && x.branch === "main");
  const recorded = mine(await schedules());
  if (recorded) return recorded;
  const p = await json<Pipeline>(
    server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } }),
  );
  await finished(p.id);
  const now = mine(await schedules());
  if (!now)
    throw new Error(`a pipeline on main recorded no config schedule: ${JSON.stringify(await schedules())}`);
  return now;
}

const everyFive = () =>
  json<Schedule>(
    server.api(`/api/v1/projects/${projectId}/schedules`, {
      method: "POST",
      json: {
        name: "every five",
        timetable: { cron: "*/5 * * * *" },
        parameters: { who: "the night shift" },
      },
    }),
  );

/** The pipeline "every five" fired: the second test's, or one fired here (the schedule then removed). */
async function madeByProjectSchedule(): Promise<string> {
  if (made.api) return made.api;
  const s = await everyFive();
  try {
    const fired = (await server.deps.schedules.tick(Date.parse(s.next_run_at))).find(
      (f) => f.schedule === s.id,
    );
    if (!fired?.pipeline)
      throw new Error(`schedule "every five" fired no pipeline: ${JSON.stringify(fired)}`);
    made.api = (await finished(fired.pipeline)).id;
  } finally {
    await server.api(`/api/v1/projects/${projectId}/schedules/${s.id}`, { method: "DELETE" });
  }
  return made.api;
}

/** The pipeline main's config schedule fired: the third test's, or one fired here. */
async function madeByConfigSchedule(): Promise<string> {
  if (made.config) return made.config;
  const config = await mainConfigSchedule();
  const fired = (await server.deps.schedules.tick(Date.parse(config.next_run_at))).find(
    (f) => f.schedule === config.id,
  );
  if (!fired?.pipeline) throw new Error(`the config schedule fired no pipeline: ${JSON.stringify(fired)}`);
  made.config = (await finished(fired.pipeline)).id;
  return made.config;
}

beforeAll(async () => {
  server = await startTestServer();
  repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG }, "config");
  projectId = (
    await json<{ id: string }>(
      server.api("/api/v1/projects", { method: "POST", json: { name: "timed/app", repo_url: repo.bare } }),
    )
  ).id;
  builder = await startBuilder({
    server: server.url,
    adminToken: server.token,
    name: "schedules",
    env: { TMPDIR: privateTmp },
  });
});
afterAll(async () => {
  await builder?.stop();
  await server?.stop();
  rmSync(privateTmp, { recursive: true, force: true });
  // createRepo leaves its bare repository and work tree in one temporary directory.
  if (repo) rmSync(dirname(repo.bare), { recursive: true, force: true });
});

describe("schedules fire", () => {
  test("a push runs the push workflow only, and records the branch's config schedule", async () => {
    const made = await json<Pipeline>(
      server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } }),
    );
    expect(made.workflows.map((w) => w.name)).toEqual(["push"]);
    const p = await finished(made.id);
    expect(p.status).toBe("success");
    expect(await log(p.jobs[0].id)).toContain("built for nobody by api ()");
    expect((await schedules()).map((s) => s.source)).toEqual(["config"]);
  });

  test("a project schedule fires once at its time: a pipeline triggered as its actor runs to success", async () => {
    const s = await everyFive();
    const due = Date.parse(s.next_run_at);
    // A minute before its time nothing fires; at its time it fires; again at that time, nothing.
    // Only this schedule's fires count: the config's (03:00) is due too when the test runs in the
    // five minutes before it.
    const ours = async (at: number) =>
      (await server.deps.schedules.tick(at)).filter((f) => f.schedule === s.id);
    expect(await ours(due - 60_000)).toEqual([]);
    const fired = await ours(due);
    expect(fired).toEqual([{ schedule: s.id, pipeline: expect.any(String), error: null }]);
    expect(await ours(due)).toEqual([]);

    const p = await finished(fired[0].pipeline!);
    made.api = p.id;
    expect(p.status).toBe("success");
    expect(p.trigger).toBe("schedule");
    expect(p.metadata).toMatchObject({
      schedule: { id: s.id, name: "every five", source: "api" },
      actor: { login: "admin" },
    });
    expect(p.workflows.map((w) => w.name)).toEqual(["push"]);
    expect(await log(p.jobs[0].id)).toContain("built for the night shift by scheduled_pipeline (every five)");
    const after = (await schedules()).find((x) => x.id === s.id)!;
    expect(after.last_pipeline_id).toBe(p.id);
    expect(Date.parse(after.next_run_at)).toBe(due + 5 * 60_000);

    // Removed, it fires no more.
    expect(
      (await server.api(`/api/v1/projects/${projectId}/schedules/${s.id}`, { method: "DELETE" })).status,
    ).toBe(204);
    // At the time it would have fired next, not this one.
    expect(await ours(due + 5 * 60_000)).toEqual([]);
  });

  test("the config's scheduled workflow fires alone, once across two server processes, after days missed", async () => {
    const config = await mainConfigSchedule();
    // Three days late (the server was down): it fires once, not three times.
    const late = Date.parse(config.next_run_at) + 3 * 24 * 60 * 60_000 + 17 * 60_000;
    // A second server process on the same database (its own connection): both tick at once; one fire.
    const second = await openDb(`file:${join(server.dataDir, "cairn.db")}`);
    const other = new ScheduleRunner({ ...server.deps, db: second.db });
    let fired: Fired[];
    try {
      const [a, b] = await Promise.all([server.deps.schedules.tick(late), other.tick(late)]);
      fired = [...a, ...b];
      expect(fired).toEqual([{ schedule: config.id, pipeline: expect.any(String), error: null }]);
      expect(await other.tick(late)).toEqual([]);
    } finally {
      second.close();
    }

    const p = await finished(fired[0].pipeline!);
    made.config = p.id;
    expect(p.status).toBe("success");
    expect(p.trigger).toBe("schedule");
    expect(p.metadata?.schedule).toMatchObject({ name: "nightly", source: "config" });
    expect(p.workflows.map((w) => w.name)).toEqual(["nightly"]);
    expect(p.jobs.map((j) => j.name)).toEqual(["soak"]);
    expect(await log(p.jobs[0].id)).toContain("soaking overnight");
    // The next fire is the next 03:00 after the late tick, not one of the missed ones.
    const next = Date.parse((await schedules()).find((x) => x.id === config.id)!.next_run_at);
    expect(next).toBeGreaterThan(late);
    expect(next - late).toBeLessThanOrEqual(24 * 60 * 60_000);
    expect(new Date(next).getUTCHours()).toBe(3);
  });
});

describe("config schedules follow their branch", () => {
  test("a matching branch gets its own; when the branch is deleted, its fire says so and drops it", async () => {
    await mainConfigSchedule();
    repo.commit({ "README.md": "feature" }, "feature", "feature-x");
    const made = await json<Pipeline>(
      server.api(`/api/v1/projects/${projectId}/pipelines`, {
        method: "POST",
        json: { branch: "feature-x" },
      }),
    );
    expect((await finished(made.id)).status).toBe("success");
    const row = (await schedules()).find((s) => s.source === "config" && s.branch === "feature-x")!;
    expect(row).toBeDefined();
    execFileSync("git", ["-C", repo.bare, "branch", "-D", "feature-x"]);
    const fired = await server.deps.schedules.tick(Date.parse(row.next_run_at));
    // main's fires at the same time when no earlier test moved it on: let its pipeline finish.
    for (const f of fired) if (f.schedule !== row.id && f.pipeline) await finished(f.pipeline);
    expect(fired.filter((f) => f.schedule === row.id)).toEqual([
      { schedule: row.id, pipeline: null, error: expect.stringContaining("feature-x") },
    ]);
    expect((await schedules()).map((s) => s.branch)).toEqual(["main"]);
  });
});

describe.skipIf(!browserTestsEnabled())("schedules in chromium", () => {
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

  test("a pipeline page says which schedule triggered it, and as whom", async () => {
    const [byProject, byConfig] = [await madeByProjectSchedule(), await madeByConfigSchedule()];
    await page.goto(`${server.url}/pipelines/${byProject}`);
    await page.waitForSelector("dd.triggered-by");
    expect(await page.textContent("dd.triggered-by")).toBe("schedule “every five”, as admin");
    await page.goto(`${server.url}/pipelines/${byConfig}`);
    await page.waitForSelector("dd.triggered-by:text-is('scheduled workflow nightly')");
  });

  test("settings list the config's schedule, add a schedule and delete it", async () => {
    const byConfig = await madeByConfigSchedule();
    await page.goto(`${server.url}/projects/${projectId}/settings#schedules`);
    const config = page.locator("#schedules tr[data-schedule=nightly]");
    await config.waitFor();
    expect(await config.getAttribute("data-source")).toBe("config");
    expect(await config.textContent()).toContain("0 3 * * *");
    expect(await config.locator("a[href^='/pipelines/']").getAttribute("href")).toBe(
      `/pipelines/${byConfig}`,
    );
    expect(await config.locator("button").count()).toBe(0);

    await page.fill("#schedule-name", "weekly docs");
    await page.fill("#schedule-cron", "0 6 * * MON");
    await page.click("form.schedule-form button[type=submit]");
    const added = page.locator("#schedules tr[data-schedule='weekly docs']");
    await added.waitFor();
    expect(await added.textContent()).toContain("admin");
    await screenshot(page, "schedules-settings");
    const listed = await schedules();
    expect(listed.find((s) => s.source === "api")).toMatchObject({ next_run_at: expect.any(String) });

    // A bad cron is refused with the server's message beside the form.
    await page.fill("#schedule-name", "broken");
    await page.fill("#schedule-cron", "0 3 * *");
    await page.click("form.schedule-form button[type=submit]");
    await page.waitForSelector("form.schedule-form .form-status:has-text('five fields')");

    await added.locator("button:has-text('Delete')").click();
    await added.locator("button:has-text('Confirm')").click();
    await added.waitFor({ state: "detached" });
    expect((await schedules()).map((s) => s.source)).toEqual(["config"]);
    expect(errors.filter((e) => !/status of (401|400)/.test(e))).toEqual([]);
  });
});
