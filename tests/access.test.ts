// Every user route checks roles, over a real socket: a project's non-member gets 404 (its existence
// is not revealed), a read member 403 on writes, an admin's `read` token 403 on writes, no token 401;
// malformed JSON is a 400 with the error shape; the events stream only carries readable projects.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";
import { waitForPlan } from "./support/trigger.ts";

let server: TestServer;
const ids: Record<string, string> = {};
const tokens: Record<string, string> = {};

const PASSWORD = "correct horse battery staple";

async function call(
  path: string,
  init: { method?: string; token?: string | null; json?: unknown; body?: string } = {},
) {
  const headers = new Headers(waitForPlan(path, init.method));
  if (init.token !== null) headers.set("authorization", `Bearer ${init.token ?? server.token}`);
  let body = init.body;
  if (init.json !== undefined) body = JSON.stringify(init.json);
  if (body !== undefined) headers.set("content-type", "application/json");
  const res = await fetch(`${server.url}${path}`, { method: init.method ?? "GET", headers, body });
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: answers of many shapes, checked field by field
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, json, headers: res.headers };
}

/** A user made through the API, signed in with their password, holding a token they made themselves. */
export async function userWithToken(login: string, role: "admin" | "member", scopes: string[]) {
  const made = await call("/api/v1/users", { method: "POST", json: { login, role, password: PASSWORD } });
  expect(made.status).toBe(201);
  const signIn = await fetch(`${server.url}/api/v1/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ login, password: PASSWORD }),
  });
  expect(signIn.status).toBe(201);
  const { csrf } = (await signIn.json()) as { csrf: string };
  const cookie = signIn.headers.get("set-cookie")!.split(";")[0];
  const res = await fetch(`${server.url}/api/v1/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie, "x-cairn-csrf": csrf },
    body: JSON.stringify({ name: `${login} token`, scopes }),
  });
  expect(res.status).toBe(201);
  return { id: made.json.id as string, token: ((await res.json()) as { token: string }).token };
}

beforeAll(async () => {
  server = await startTestServer();
  const repo = createRepo();
  repo.commit({
    ".circleci/config.yml":
      "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: echo hi\nworkflows:\n  main:\n    jobs: [build]\n",
  });
  const p = await call("/api/v1/projects", {
    method: "POST",
    json: { name: "guarded", repo_url: repo.bare },
  });
  expect(p.status).toBe(201);
  ids.project = p.json.id;
  const pl = await call(`/api/v1/projects/${ids.project}/pipelines`, {
    method: "POST",
    json: { branch: "main" },
  });
  expect(pl.status).toBe(201);
  ids.pipeline = pl.json.id;
  ids.workflow = pl.json.workflows[0].id;
  ids.job = pl.json.jobs[0].id;
  const ctx = await call("/api/v1/contexts", { method: "POST", json: { name: "shared" } });
  ids.context = ctx.json.id;

  const reader = await userWithToken("reader", "member", ["admin"]);
  const writer = await userWithToken("writer", "member", ["admin"]);
  const outsider = await userWithToken("outsider", "member", ["admin"]);
  Object.assign(ids, { reader: reader.id, writer: writer.id, outsider: outsider.id });
  Object.assign(tokens, { reader: reader.token, writer: writer.token, outsider: outsider.token });
  for (const [who, role] of [
    ["reader", "read"],
    ["writer", "write"],
  ]) {
    const m = await call(`/api/v1/projects/${ids.project}/members`, {
      method: "POST",
      json: { user_id: ids[who], role },
    });
    expect(m.status).toBe(201);
  }
  const readScoped = await call("/api/v1/tokens", { method: "POST", json: { name: "ro", scopes: ["read"] } });
  tokens.adminRead = readScoped.json.token;
  const writeScoped = await call("/api/v1/tokens", {
    method: "POST",
    json: { name: "rw", scopes: ["write"] },
  });
  tokens.adminWrite = writeScoped.json.token;
}, 60_000);
afterAll(() => server.stop());

type Need = "read" | "write" | "admin" | "org-read" | "org-admin";
interface Route {
  method: string;
  path: () => string;
  need: Need;
  json?: unknown;
  /** A live stream: only its refusals are checked (an allowed request would not end). */
  stream?: boolean;
}

const P = () => ids.project;
const ROUTES: Route[] = [
  { method: "GET", path: () => `/api/v1/projects/${P()}`, need: "read" },
  { method: "GET", path: () => `/api/v1/projects/${P()}/pipelines`, need: "read" },
  { method: "GET", path: () => `/api/v1/projects/${P()}/envvars`, need: "read" },
  { method: "GET", path: () => `/api/v1/projects/${P()}/members`, need: "read" },
  { method: "GET", path: () => `/api/v1/projects/${P()}/deploy-key`, need: "read" },
  { method: "GET", path: () => `/api/v1/pipelines/${ids.pipeline}`, need: "read" },
  { method: "GET", path: () => `/api/v1/jobs/${ids.job}`, need: "read" },
  { method: "GET", path: () => `/api/v1/jobs/${ids.job}/log`, need: "read" },
  { method: "GET", path: () => `/api/v1/jobs/${ids.job}/log/ws`, need: "read" },
  { method: "GET", path: () => `/api/v1/jobs/${ids.job}/log/stream`, need: "read", stream: true },
  { method: "GET", path: () => `/api/v1/jobs/${ids.job}/artifacts`, need: "read" },
  { method: "GET", path: () => `/api/v1/jobs/${ids.job}/artifacts/out.txt`, need: "read" },
  { method: "GET", path: () => `/api/v1/jobs/${ids.job}/tests`, need: "read" },
  {
    method: "POST",
    path: () => `/api/v1/projects/${P()}/pipelines`,
    need: "write",
    json: { branch: "main" },
  },
  { method: "POST", path: () => `/api/v1/jobs/${ids.job}/cancel`, need: "write" },
  { method: "POST", path: () => `/api/v1/jobs/${ids.job}/rerun`, need: "write", json: {} },
  { method: "POST", path: () => `/api/v1/jobs/${ids.job}/approve`, need: "write" },
  { method: "POST", path: () => `/api/v1/workflows/${ids.workflow}/rerun`, need: "write", json: {} },
  { method: "GET", path: () => `/api/v1/projects/${P()}/schedules`, need: "read" },
  {
    method: "POST",
    path: () => `/api/v1/projects/${P()}/schedules`,
    need: "write",
    json: { name: "nightly", timetable: { cron: "0 3 * * *" } },
  },
  {
    method: "PATCH",
    path: () => `/api/v1/projects/${P()}/schedules/nope`,
    need: "write",
    json: { description: "x" },
  },
  { method: "DELETE", path: () => `/api/v1/projects/${P()}/schedules/nope`, need: "write" },
  { method: "POST", path: () => `/api/v1/projects/${P()}/follow`, need: "admin" },
  { method: "POST", path: () => `/api/v1/projects/${P()}/unfollow`, need: "admin" },
  { method: "PATCH", path: () => `/api/v1/projects/${P()}`, need: "admin", json: { default_branch: "dev" } },
  { method: "POST", path: () => `/api/v1/projects/${P()}/webhook-secret`, need: "admin" },
  { method: "POST", path: () => `/api/v1/projects/${P()}/deploy-key`, need: "admin" },
  { method: "DELETE", path: () => `/api/v1/projects/${P()}/deploy-key`, need: "admin" },
  {
    method: "POST",
    path: () => `/api/v1/projects/${P()}/envvars`,
    need: "admin",
    json: { name: "K", value: "value-1234" },
  },
  { method: "DELETE", path: () => `/api/v1/projects/${P()}/envvars/K`, need: "admin" },
  {
    method: "POST",
    path: () => `/api/v1/projects/${P()}/members`,
    need: "admin",
    // A getter: the outsider's id exists only once beforeAll has run.
    get json() {
      return { user_id: ids.outsider, role: "admin" };
    },
  },
  { method: "DELETE", path: () => `/api/v1/projects/${P()}/members/${ids.reader}`, need: "admin" },
  {
    method: "POST",
    path: () => "/api/v1/projects",
    need: "org-admin",
    json: { name: "x", repo_url: "/tmp/x" },
  },
  { method: "GET", path: () => "/api/v1/builders", need: "org-read" },
  { method: "POST", path: () => "/api/v1/builders/registration-tokens", need: "org-admin", json: {} },
  { method: "POST", path: () => "/api/v1/builders/nope/revoke", need: "org-admin" },
  { method: "GET", path: () => "/api/v1/audit", need: "org-read" },
  { method: "POST", path: () => "/api/v1/contexts", need: "org-admin", json: { name: "c2" } },
  { method: "DELETE", path: () => `/api/v1/contexts/${ids.context}`, need: "org-admin" },
  {
    method: "POST",
    path: () => `/api/v1/contexts/${ids.context}/envvars`,
    need: "org-admin",
    json: { name: "K", value: "value-1234" },
  },
  {
    method: "POST",
    path: () => "/api/v1/users",
    need: "org-admin",
    json: { login: "mallory", role: "admin" },
  },
  {
    method: "PATCH",
    path: () => `/api/v1/users/${ids.outsider}`,
    need: "org-admin",
    json: { role: "admin" },
  },
  { method: "DELETE", path: () => `/api/v1/users/${ids.outsider}`, need: "org-admin" },
  {
    method: "POST",
    path: () => `/api/v1/contexts/${ids.context}/restrictions`,
    need: "org-admin",
    get json() {
      return { restriction_type: "project", restriction_value: ids.project };
    },
  },
  { method: "DELETE", path: () => `/api/v1/contexts/${ids.context}/restrictions/nope`, need: "org-admin" },
];

const isWrite = (r: Route) => r.method !== "GET";
const projectScoped = (r: Route) => r.need === "read" || r.need === "write" || r.need === "admin";

/** What each caller must get, or null where the caller is allowed (any answer but 401/403 and a hidden 404). */
function expected(who: string, r: Route): number | null {
  if (who === "anonymous") return 401;
  if (who === "outsider") return projectScoped(r) ? 404 : 403;
  if (who === "reader") return r.need === "read" ? null : 403;
  if (who === "writer") return r.need === "read" || r.need === "write" ? null : 403;
  if (who === "adminRead") return isWrite(r) ? 403 : null;
  if (who === "adminWrite") return r.need === "admin" || r.need === "org-admin" ? 403 : null;
  return null;
}

describe("every route checks roles and scopes", () => {
  for (const who of ["anonymous", "outsider", "reader", "writer", "adminRead", "adminWrite"]) {
    test(`${who}`, async () => {
      const wrong: string[] = [];
      for (const r of ROUTES) {
        const want = expected(who, r);
        // Allowed writes are not run here: they would change what the other cases see.
        if (want === null && (isWrite(r) || r.stream)) continue;
        const res = await call(r.path(), {
          method: r.method,
          token: who === "anonymous" ? null : tokens[who],
          json: r.json,
        });
        const got = res.status;
        const ok =
          want === null
            ? got !== 401 && got !== 403 && !(got === 404 && res.json?.error?.details?.project)
            : got === want && typeof res.json?.error?.code === "string";
        if (!ok) wrong.push(`${r.method} ${r.path()}: ${got} (want ${want ?? "allowed"})`);
      }
      expect(wrong).toEqual([]);
    });
  }

  test("a hidden project's 404 looks like a missing one", async () => {
    const hidden = await call(`/api/v1/projects/${ids.project}`, { token: tokens.outsider });
    const missing = await call("/api/v1/projects/00000000-0000-0000-0000-000000000000", {
      token: tokens.outsider,
    });
    expect(hidden.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(Object.keys(hidden.json.error)).toEqual(Object.keys(missing.json.error));
    const job = await call(`/api/v1/jobs/${ids.job}`, { token: tokens.outsider });
    expect(job.json.error.details).toEqual({ job: ids.job });
  });

  test("project lists only show readable projects", async () => {
    expect((await call("/api/v1/projects", { token: tokens.outsider })).json.items).toEqual([]);
    const seen = (await call("/api/v1/projects", { token: tokens.reader })).json.items.map(
      (p: { id: string }) => p.id,
    );
    expect(seen).toEqual([ids.project]);
  });

  test("a writer triggers a pipeline; the reader reads it", async () => {
    const made = await call(`/api/v1/projects/${P()}/pipelines`, {
      method: "POST",
      token: tokens.writer,
      json: { branch: "main" },
    });
    expect(made.status).toBe(201);
    expect((await call(`/api/v1/pipelines/${made.json.id}`, { token: tokens.reader })).status).toBe(200);
  });
});

/** The events the stream sends within `ms`, from the start of history. */
async function eventsSeen(token: string, ms = 800): Promise<string> {
  const abort = new AbortController();
  const res = await fetch(`${server.url}/api/v1/events?after=0`, {
    headers: { authorization: `Bearer ${token}` },
    signal: abort.signal,
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let text = "";
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  } catch {}
  clearTimeout(timer);
  return text;
}

describe("the events stream", () => {
  test("carries a project's events only to users who may read it", async () => {
    const outsider = await eventsSeen(tokens.outsider);
    const reader = await eventsSeen(tokens.reader);
    expect(outsider).toContain("event: ready");
    expect(outsider).not.toContain(ids.project);
    expect(reader).toContain(ids.project);
  });
});

describe("the log WebSocket", () => {
  /** "open" or "refused": what a real WebSocket upgrade with this token gets. */
  const connect = (token: string) =>
    new Promise<string>((resolve) => {
      const ws = new WebSocket(`${server.url.replace("http", "ws")}/api/v1/jobs/${ids.job}/log/ws`, {
        headers: { authorization: `Bearer ${token}` },
      } as unknown as string[]);
      ws.onopen = () => {
        ws.close();
        resolve("open");
      };
      ws.onerror = () => resolve("refused");
    });

  test("opens for a reader and is refused to a non-member", async () => {
    expect(await connect(tokens.reader)).toBe("open");
    expect(await connect(tokens.outsider)).toBe("refused");
  });
});

describe("malformed input", () => {
  const JSON_ROUTES: [string, string][] = [
    ["POST", "/api/v1/projects"],
    ["POST", "/api/v1/projects/:project/pipelines"],
    ["PATCH", "/api/v1/projects/:project"],
    ["POST", "/api/v1/projects/:project/envvars"],
    ["POST", "/api/v1/projects/:project/members"],
    ["POST", "/api/v1/contexts"],
    ["POST", "/api/v1/contexts/:context/envvars"],
    ["POST", "/api/v1/users"],
    ["PATCH", "/api/v1/users/:outsider"],
    ["POST", "/api/v1/tokens"],
    ["POST", "/api/v1/users/me/ssh-keys"],
    ["POST", "/api/v1/jobs/:job/rerun"],
    ["POST", "/api/v1/workflows/:workflow/rerun"],
    ["POST", "/api/v1/session"],
  ];
  const resolve = (template: string) => template.replace(/:(\w+)/g, (_, k: string) => ids[k]);
  for (const [method, template] of JSON_ROUTES) {
    test(`${method} ${template}: broken JSON and wrong shapes are 400s`, async () => {
      for (const body of [
        "{",
        "[]",
        '"x"',
        JSON.stringify({
          name: 5,
          login: 5,
          role: 7,
          scopes: "x",
          public_key: 1,
          user_id: 3,
          ssh: "yes",
          from_failed: 1,
          token: 1,
          branch: 1,
          default_branch: 1,
          value: 1,
        }),
      ]) {
        const res = await call(resolve(template), { method, body });
        expect(`${body}: ${res.status}`).toBe(`${body}: 400`);
        expect(typeof res.json.error.code).toBe("string");
        expect(typeof res.json.error.message).toBe("string");
      }
    });
  }
});
