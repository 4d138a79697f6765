// Project schedules through the API over a real socket: create (cron or CircleCI's timetable), list,
// read, change, remove; bad input as 400s in the error shape; roles (read lists, write changes, a
// non-member sees 404); every change audited; config schedules listed but changed only in the config.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRepo, type TestRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";
import { waitForPlan } from "./support/trigger.ts";

let server: TestServer;
/** The users' ids (reader, writer, outsider), made once: each test makes its own project. */
const ids: Record<string, string> = {};
const repos: TestRepo[] = [];
const tokens: Record<string, string> = {};
const PASSWORD = "correct horse battery staple";

const CONFIG = `version: 2.1
jobs:
  build: {machine: true, steps: [{run: echo hi}]}
workflows:
  main:
    jobs: [build]
  nightly:
    triggers:
      - schedule:
          cron: "0 3 * * *"
          filters: {branches: {only: [main]}}
    jobs: [build]
`;

async function call(
  path: string,
  init: { method?: string; token?: string; json?: unknown; body?: string } = {},
) {
  const headers = new Headers({
    authorization: `Bearer ${init.token ?? server.token}`,
    ...waitForPlan(path, init.method),
  });
  const body = init.json !== undefined ? JSON.stringify(init.json) : init.body;
  if (body !== undefined) headers.set("content-type", "application/json");
  const res = await fetch(`${server.url}${path}`, { method: init.method ?? "GET", headers, body });
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: answers of many shapes, checked field by field
  const json: any = text ? JSON.parse(text) : null;
  return { status: res.status, json };
}

async function userWithToken(login: string) {
  const made = await call("/api/v1/users", {
    method: "POST",
    json: { login, role: "member", password: PASSWORD },
  });
  expect(made.status).toBe(201);
  const signIn = await fetch(`${server.url}/api/v1/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ login, password: PASSWORD }),
  });
  const { csrf } = (await signIn.json()) as { csrf: string };
  const cookie = signIn.headers.get("set-cookie")!.split(";")[0];
  const res = await fetch(`${server.url}/api/v1/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie, "x-cairn-csrf": csrf },
    body: JSON.stringify({ name: `${login} token`, scopes: ["admin"] }),
  });
  return { id: made.json.id as string, token: ((await res.json()) as { token: string }).token };
}

/**
 * A project of the test's own, with the reader and the writer as members, so no test depends on
 * the schedules another made; returns its schedules path.
 */
async function ownProject(): Promise<{ id: string; S: string }> {
  const repo = createRepo();
  repos.push(repo);
  repo.commit({ ".circleci/config.yml": CONFIG });
  const p = await call("/api/v1/projects", {
    method: "POST",
    json: { name: `timed-${repos.length}`, repo_url: repo.bare },
  });
  expect(p.status).toBe(201);
  for (const [who, role] of [
    ["reader", "read"],
    ["writer", "write"],
  ] as const)
    expect(
      (
        await call(`/api/v1/projects/${p.json.id}/members`, {
          method: "POST",
          json: { user_id: ids[who], role },
        })
      ).status,
    ).toBe(201);
  return { id: p.json.id, S: `/api/v1/projects/${p.json.id}/schedules` };
}

const NIGHTLY = {
  name: "nightly build",
  description: "every night",
  timetable: { cron: "30 2 * * *" },
  parameters: { deploy: false },
};
const WEEKDAY = {
  name: "weekday",
  timetable: { per_hour: 4, hours_of_day: [9, 17], days_of_week: ["MON", "FRI"], months: ["JAN", "JUL"] },
  tag: "v1.0",
};

/** The two schedules the tests below change, list and remove: nightly (by the writer), weekday. */
async function withSchedules() {
  const own = await ownProject();
  const cron = await call(own.S, { method: "POST", token: tokens.writer, json: NIGHTLY });
  const timetable = await call(own.S, { method: "POST", json: WEEKDAY });
  expect([cron.status, timetable.status]).toEqual([201, 201]);
  return { ...own, cron: cron.json.id as string, timetable: timetable.json.id as string };
}

beforeAll(async () => {
  server = await startTestServer();
  for (const who of ["reader", "writer", "outsider"]) {
    const u = await userWithToken(who);
    ids[who] = u.id;
    tokens[who] = u.token;
  }
}, 60_000);
afterAll(async () => {
  await server.stop();
  for (const repo of repos) repo.remove();
});

describe("project schedules", () => {
  test("create with a cron: fires next at the next cron time (UTC), triggered as its maker", async () => {
    const { S } = await ownProject();
    const before = Date.now();
    const r = await call(S, { method: "POST", token: tokens.writer, json: NIGHTLY });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({
      name: "nightly build",
      description: "every night",
      source: "api",
      timetable: { cron: "30 2 * * *" },
      cron: "30 2 * * *",
      branch: "main",
      tag: null,
      parameters: { deploy: false },
      actor: { id: ids.writer, login: "writer" },
      last_run_at: null,
    });
    const next = Date.parse(r.json.next_run_at);
    expect(next).toBeGreaterThan(before);
    expect(new Date(next).getUTCHours()).toBe(2);
    expect(new Date(next).getUTCMinutes()).toBe(30);
  });

  test("create with CircleCI's timetable: per_hour spreads fires over the hour", async () => {
    const { S } = await ownProject();
    const r = await call(S, { method: "POST", json: WEEKDAY });
    expect(r.status).toBe(201);
    expect(r.json.cron).toBe("0,15,30,45 9,17 * JAN,JUL MON,FRI");
    expect(r.json).toMatchObject({ branch: null, tag: "v1.0" });
    expect(r.json.timetable.per_hour).toBe(4);
  });

  test.each([
    [{ timetable: { cron: "0 3 * *" } }, "timetable.cron", /five fields/],
    [{ timetable: { cron: "0 0 31 2 *" } }, "timetable.cron", /names no day/],
    [{ timetable: { cron: "0 3 * * *", per_hour: 1 } }, "timetable", /either `cron`/],
    [
      { timetable: { per_hour: 0, hours_of_day: [1], days_of_week: ["MON"] } },
      "timetable.per_hour",
      /1 to 60/,
    ],
    [{ timetable: { per_hour: 1, days_of_week: ["MON"] } }, "timetable.hours_of_day", /required/],
    [
      { timetable: { per_hour: 1, hours_of_day: [24], days_of_week: ["MON"] } },
      "timetable.hours_of_day",
      /0-23/,
    ],
    [{ timetable: { per_hour: 1, hours_of_day: [1] } }, "timetable", /days_of_week` or `days_of_month/],
    [
      { timetable: { per_hour: 1, hours_of_day: [1], days_of_week: ["Monday"] } },
      "timetable.days_of_week",
      /MON/,
    ],
    [
      { timetable: { per_hour: 1, hours_of_day: [1], days_of_month: [31], months: ["FEB"] } },
      "timetable",
      /never fires/,
    ],
    [{ timetable: { cron: "@daily" }, branch: "a..b" }, "branch", /not a valid branch/],
    [{ timetable: { cron: "@daily" }, branch: "main", tag: "v1" }, "tag", /not both/],
    [{ name: "", timetable: { cron: "@daily" } }, "name", /empty/],
  ])("%j is a 400 naming %s", async (body, field, message) => {
    const { S } = await ownProject();
    const r = await call(S, { method: "POST", json: { name: "bad", ...body } });
    expect((await call(S)).json.items).toEqual([]);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toMatch(/^invalid_/);
    expect(r.json.error.message).toMatch(message);
    if (field !== "name") expect(r.json.error.details.field).toBe(field);
  });

  test("wrong shapes and unknown fields are 400s; a taken name is a 409", async () => {
    const { S, cron } = await withSchedules();
    for (const body of [
      "{",
      JSON.stringify({ name: "x", timetable: "daily" }),
      JSON.stringify({ name: "x", timetable: { cron: "@daily" }, every: 1 }),
    ]) {
      const r = await call(S, { method: "POST", body });
      expect(r.status).toBe(400);
      expect(r.json.error).toHaveProperty("code");
    }
    const dup = await call(S, {
      method: "POST",
      json: { name: "nightly build", timetable: { cron: "@daily" } },
    });
    expect(dup.status).toBe(409);
    expect(dup.json.error).toMatchObject({ code: "schedule_exists", details: { id: cron } });
  });

  test("list and read: readers may; a non-member gets 404", async () => {
    const { S, cron } = await withSchedules();
    const list = await call(S, { token: tokens.reader });
    expect(list.status).toBe(200);
    expect(list.json.items.map((s: { name: string }) => s.name)).toEqual(["nightly build", "weekday"]);
    expect((await call(`${S}/${cron}`, { token: tokens.reader })).json.name).toBe("nightly build");
    expect((await call(S, { token: tokens.outsider })).status).toBe(404);
    expect((await call(`${S}/nope`)).status).toBe(404);
  });

  test("writes need write access", async () => {
    const { S, cron } = await withSchedules();
    const made = await call(S, {
      method: "POST",
      token: tokens.reader,
      json: { name: "r", timetable: { cron: "@daily" } },
    });
    expect(made.status).toBe(403);
    expect(
      (
        await call(`${S}/${cron}`, {
          method: "PATCH",
          token: tokens.reader,
          json: { description: "x" },
        })
      ).status,
    ).toBe(403);
    expect((await call(`${S}/${cron}`, { method: "DELETE", token: tokens.reader })).status).toBe(403);
    expect((await call(`${S}/${cron}`, { method: "DELETE", token: tokens.outsider })).status).toBe(404);
  });

  test("change: the new timetable moves the next fire; the changer becomes the actor", async () => {
    const { S, cron } = await withSchedules();
    const r = await call(`${S}/${cron}`, {
      method: "PATCH",
      json: { timetable: { cron: "0 4 * * *" }, branch: "release", description: "later" },
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      cron: "0 4 * * *",
      branch: "release",
      description: "later",
      name: "nightly build",
    });
    expect(r.json.actor.login).toBe("admin");
    expect(new Date(r.json.next_run_at).getUTCHours()).toBe(4);
    const bad = await call(`${S}/${cron}`, { method: "PATCH", json: { timetable: { cron: "nope" } } });
    expect(bad.status).toBe(400);
    const taken = await call(`${S}/${cron}`, { method: "PATCH", json: { name: "weekday" } });
    expect(taken.status).toBe(409);
  });

  test("remove: 204, then 404", async () => {
    const { S, timetable } = await withSchedules();
    expect((await call(`${S}/${timetable}`, { method: "DELETE", token: tokens.writer })).status).toBe(204);
    expect((await call(`${S}/${timetable}`, { method: "DELETE" })).status).toBe(404);
  });

  test("every change is in the audit log, naming the schedule", async () => {
    const { S, cron, timetable } = await withSchedules();
    expect((await call(`${S}/${cron}`, { method: "PATCH", json: { description: "later" } })).status).toBe(
      200,
    );
    expect((await call(`${S}/${timetable}`, { method: "DELETE" })).status).toBe(204);
    const r = await call("/api/v1/audit?limit=200");
    const mine = r.json.items.filter(
      (e: { action: string; target: { id: string } }) =>
        e.action.startsWith("schedule.") && [cron, timetable].includes(e.target.id),
    );
    expect(mine.map((e: { action: string }) => e.action).sort()).toEqual([
      "schedule.created",
      "schedule.created",
      "schedule.deleted",
      "schedule.updated",
    ]);
    const created = mine.find(
      (e: { action: string; target: { id: string } }) =>
        e.action === "schedule.created" && e.target.id === cron,
    );
    expect(created.actor).toMatchObject({ id: ids.writer });
  });
});

describe("config schedules", () => {
  test("a pipeline on a branch records its config's triggers there; they are listed, not changed here", async () => {
    const { id, S } = await ownProject();
    const p = await call(`/api/v1/projects/${id}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(p.status).toBe(201);
    // The push runs the push workflow only.
    expect(p.json.workflows.map((w: { name: string }) => w.name)).toEqual(["main"]);
    const list = await call(S);
    const config = list.json.items.find((s: { source: string }) => s.source === "config");
    expect(config).toMatchObject({
      name: "nightly",
      workflow: "nightly",
      branch: "main",
      cron: "0 3 * * *",
      actor: null,
    });
    const del = await call(`${S}/${config.id}`, { method: "DELETE" });
    expect(del.status).toBe(409);
    expect(del.json.error.code).toBe("schedule_from_config");
  });
});
