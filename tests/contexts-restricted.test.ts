// Restricted contexts over a real socket, with a stand-in builder speaking the real protocol: a
// context restricted to projects (and by expression to branches) gives its secrets only to jobs it
// allows; any other job fails before it starts, with the reason and no secret. Who may read a
// context's variable names, and what the user list shows to non-admins.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { ServerClient } from "../builder/client.ts";
import type { JobPayload } from "../protocol/index.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const CONFIG = `version: 2.1
jobs:
  deploy:
    machine: true
    steps:
      - run: echo deploying
workflows:
  main:
    jobs:
      - deploy:
          context: [prod]
`;
const SECRET = "prod-deploy-token-8c1f2e";

let server: TestServer;
let builder: ServerClient;
const ids: Record<string, string> = {};

async function call(path: string, init: { method?: string; json?: unknown; token?: string } = {}) {
  const res = await server.api(path, {
    method: init.method ?? "GET",
    json: init.json,
    headers: init.token ? { authorization: `Bearer ${init.token}` } : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, text };
}

async function acquireBriefly(ms = 1500): Promise<JobPayload | null> {
  try {
    return await builder.acquire({ free_slots: 1, driver: "process" }, AbortSignal.timeout(ms));
  } catch (err) {
    if ((err as Error).name === "TimeoutError" || (err as Error).name === "AbortError") return null;
    throw err;
  }
}

async function project(name: string) {
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG });
  repo.commit({ "f.txt": "x" }, "feature", "feature/x");
  const p = await call("/api/v1/projects", { method: "POST", json: { name, repo_url: repo.bare } });
  expect(p.status).toBe(201);
  return p.json.id as string;
}

/** Runs the job a pipeline on `branch` makes: the payload if it was handed out, else null and the job's state. */
async function run(projectId: string, branch: string) {
  const pl = await call(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch } });
  expect(pl.status).toBe(201);
  const jobId = pl.json.jobs[0].id as string;
  const payload = await acquireBriefly(5000);
  if (payload) await builder.finish(payload.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
  const job = (await call(`/api/v1/jobs/${jobId}`)).json;
  return { payload, job };
}

/** A user made by the admin, holding a token of their own (made with a session from their password). */
async function userWithToken(login: string, role: "admin" | "member", scopes: string[]) {
  const password = "correct horse battery staple";
  const made = await call("/api/v1/users", { method: "POST", json: { login, role, password } });
  expect(made.status).toBe(201);
  const signIn = await fetch(`${server.url}/api/v1/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ login, password }),
  });
  const { csrf } = (await signIn.json()) as { csrf: string };
  const res = await fetch(`${server.url}/api/v1/tokens`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      cookie: signIn.headers.get("set-cookie")!.split(";")[0],
      "x-cairn-csrf": csrf,
    },
    body: JSON.stringify({ name: "t", scopes }),
  });
  expect(res.status).toBe(201);
  return { id: made.json.id as string, token: ((await res.json()) as { token: string }).token };
}

// Each test has a server of its own: two projects, the context `prod` with its secret, a builder.
beforeEach(async () => {
  server = await startTestServer();
  ids.allowed = await project("allowed");
  ids.other = await project("other");
  const ctx = await call("/api/v1/contexts", { method: "POST", json: { name: "prod" } });
  ids.context = ctx.json.id;
  await call(`/api/v1/contexts/${ids.context}/envvars`, {
    method: "POST",
    json: { name: "DEPLOY_TOKEN", value: SECRET },
  });
  const { token } = (await call("/api/v1/builders/registration-tokens", { method: "POST" })).json;
  const r = await new ServerClient(server.url).register({
    registration_token: token,
    name: "stand-in",
    public_key: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"),
    slots: 1,
    driver: "process",
  });
  builder = new ServerClient(server.url, r.token);
}, 60_000);
afterEach(() => server.stop());

/** What the first test sets up through the API: `prod` restricted to `allowed`, on main only. */
async function restrictToAllowedOnMain(): Promise<void> {
  const base = `/api/v1/contexts/${ids.context}/restrictions`;
  for (const json of [
    { restriction_type: "project", restriction_value: ids.allowed },
    { restriction_type: "expression", restriction_value: 'pipeline.git.branch == "main"' },
  ])
    expect((await call(base, { method: "POST", json })).status).toBe(201);
}

describe("the restrictions API", () => {
  test("adds, lists and removes restrictions; bad ones are 400s", async () => {
    const base = `/api/v1/contexts/${ids.context}/restrictions`;
    expect((await call(base)).json).toEqual({ items: [], next_cursor: null });
    const added = await call(base, {
      method: "POST",
      json: { restriction_type: "project", restriction_value: ids.allowed },
    });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({
      context_id: ids.context,
      restriction_type: "project",
      restriction_value: ids.allowed,
      name: "allowed",
    });
    const again = await call(base, {
      method: "POST",
      json: { restriction_type: "project", restriction_value: ids.allowed },
    });
    expect(again.status).toBe(409);
    for (const bad of [
      { restriction_type: "project", restriction_value: "no-such-project" },
      { restriction_type: "expression", restriction_value: "pipeline.git.branch ==" },
      { restriction_type: "expression", restriction_value: "pipeline.secret == 1" },
      { restriction_type: "group", restriction_value: "x" },
    ]) {
      const res = await call(base, { method: "POST", json: bad });
      expect(res.status).toBe(400);
      expect(typeof res.json.error.code).toBe("string");
    }
    const expr = await call(base, {
      method: "POST",
      json: { restriction_type: "expression", restriction_value: 'pipeline.git.branch == "main"' },
    });
    expect(expr.status).toBe(201);
    expect((await call(base)).json.items).toHaveLength(2);
    const audit = await call("/api/v1/audit?action=context.restriction_added");
    expect(audit.json.items).toHaveLength(2);
  });

  test("is in the OpenAPI document", async () => {
    const doc = (await call("/api/v1/openapi.json")).json;
    const path = doc.paths["/api/v1/contexts/{id}/restrictions"];
    expect(Object.keys(path).sort()).toEqual(["get", "post"]);
    expect(doc.paths["/api/v1/contexts/{id}/restrictions/{restriction_id}"].delete).toBeDefined();
  });
});

describe("jobs", () => {
  test("of an allowed project, on a branch the expression allows, get the secrets", async () => {
    await restrictToAllowedOnMain();
    const { payload, job } = await run(ids.allowed, "main");
    expect(payload).not.toBeNull();
    expect(payload!.secrets).toBeDefined();
    expect(job.status).toBe("success");
  });

  test("of another project fail before they start, saying why, with no secret", async () => {
    await restrictToAllowedOnMain();
    const { payload, job } = await run(ids.other, "main");
    expect(payload).toBeNull();
    expect(job.status).toBe("failed");
    expect(job.failure_reason).toContain(
      "context prod may not be used here: it is restricted to other projects",
    );
    expect(JSON.stringify(job)).not.toContain(SECRET);
  });

  test("on a branch the expression does not allow fail the same way", async () => {
    await restrictToAllowedOnMain();
    const { payload, job } = await run(ids.allowed, "feature/x");
    expect(payload).toBeNull();
    expect(job.status).toBe("failed");
    expect(job.failure_reason).toContain('branch feature/x does not satisfy pipeline.git.branch == "main"');
  });

  test("once the expression is removed, the branch may use it", async () => {
    await restrictToAllowedOnMain();
    const base = `/api/v1/contexts/${ids.context}/restrictions`;
    const expr = (await call(base)).json.items.find(
      (r: { restriction_type: string }) => r.restriction_type === "expression",
    );
    expect((await call(`${base}/${expr.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await call(`${base}/${expr.id}`, { method: "DELETE" })).status).toBe(404);
    const { payload } = await run(ids.allowed, "feature/x");
    expect(payload).not.toBeNull();
  });
});

describe("who sees what", () => {
  test("a context's variable names: admins and members of projects it is restricted to", async () => {
    await restrictToAllowedOnMain();
    const member = await userWithToken("ctx-member", "member", ["admin"]);
    const outsider = await userWithToken("ctx-outsider", "member", ["admin"]);
    await call(`/api/v1/projects/${ids.allowed}/members`, {
      method: "POST",
      json: { user_id: member.id, role: "read" },
    });
    const vars = `/api/v1/contexts/${ids.context}/envvars`;
    expect((await call(vars)).json.items.map((v: { name: string }) => v.name)).toEqual(["DEPLOY_TOKEN"]);
    expect((await call(vars, { token: member.token })).status).toBe(200);
    const refused = await call(vars, { token: outsider.token });
    expect(refused.status).toBe(403);
    expect(refused.text).not.toContain("DEPLOY_TOKEN");
    expect(
      (await call(`/api/v1/contexts/${ids.context}/restrictions`, { token: outsider.token })).status,
    ).toBe(403);
    // The outsider may not manage restrictions either.
    const add = await call(`/api/v1/contexts/${ids.context}/restrictions`, {
      method: "POST",
      token: outsider.token,
      json: { restriction_type: "project", restriction_value: ids.other },
    });
    expect(add.status).toBe(403);
  });

  test("an unrestricted context's variable names are for admins only", async () => {
    const open = await call("/api/v1/contexts", { method: "POST", json: { name: "open" } });
    const member = await userWithToken("ctx-reader", "member", ["admin"]);
    await call(`/api/v1/projects/${ids.allowed}/members`, {
      method: "POST",
      json: { user_id: member.id, role: "admin" },
    });
    expect((await call(`/api/v1/contexts/${open.json.id}/envvars`, { token: member.token })).status).toBe(
      403,
    );
    expect((await call(`/api/v1/contexts/${open.json.id}/envvars`)).status).toBe(200);
  });

  test("the user list: everyone for admins; for others, only who shares a project with them (id and login)", async () => {
    await userWithToken("ctx-outsider", "member", ["admin"]);
    const loner = await userWithToken("loner", "member", ["admin"]);
    const all = (await call("/api/v1/users?limit=200")).json.items.map((u: { login: string }) => u.login);
    expect(all).toContain("loner");
    expect(all).toContain("ctx-outsider");
    const seen = (await call("/api/v1/users?limit=200", { token: loner.token })).json.items;
    expect(seen).toEqual([{ id: loner.id, login: "loner" }]);
    const member = (
      await call("/api/v1/users?limit=200", {
        token: (await userWithToken("ctx-peer", "member", ["admin"])).token,
      })
    ).json.items;
    expect(member.map((u: { login: string }) => u.login)).toEqual(["ctx-peer"]);
    // A project admin finds someone to add by their exact login.
    const found = await call("/api/v1/users?login=loner", { token: loner.token });
    expect(found.json.items).toEqual([{ id: loner.id, login: "loner" }]);
  });
});
