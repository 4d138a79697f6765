// Project and context environment variables over a real socket and a real libSQL file: write-only
// values (no response ever carries one), hints, name rules, the short-value warning, admin-only writes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import { createRepo, type TestRepo } from "../../tests/support/git.ts";
import { startTestServer, type TestServer } from "../../tests/support/server.ts";
import { type Db, openDb } from "../db/client.ts";
import { apiTokens, projectEnvVars, users } from "../db/schema.ts";
import { hashToken, newToken } from "../secrets/index.ts";
import { newId } from "../services/ids.ts";

let server: TestServer;
let db: Db;
let closeDb: () => void;
let memberToken: string;

const VALUE = "s3cr3t-value-0123456789abcdef";
const CONTEXT_VALUE = "context-secret-ZYXWVUT98765";

/** Every byte the API sent in this file, to check no value ever left the server. */
const seen: string[] = [];
async function call(path: string, init: RequestInit & { json?: unknown; token?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.token) headers.set("authorization", `Bearer ${init.token}`);
  const res = await server.api(path, { ...init, headers });
  const text = await res.text();
  seen.push(text);
  return { status: res.status, text, json: text ? JSON.parse(text) : null };
}

/** A project of the test's own, so no test reads another's variables. */
let projects = 0;
async function ownProject(): Promise<string> {
  const repo = createRepo();
  repos.push(repo);
  repo.commit({ README: "x\n" });
  const r = await call("/api/v1/projects", {
    method: "POST",
    json: { name: `secrets-api-${++projects}`, repo_url: repo.bare },
  });
  expect(r.status).toBe(201);
  return r.json.id;
}
const repos: TestRepo[] = [];
const put = (project: string, name: string, value: string) =>
  call(`/api/v1/projects/${project}/envvars`, { method: "POST", json: { name, value } });

beforeAll(async () => {
  server = await startTestServer();
  ({ db, close: closeDb } = await openDb(`file:${join(server.dataDir, "cairn.db")}`));
  // A member (not an admin), made directly in the database: there is no user API yet.
  const userId = newId();
  memberToken = newToken("cairn_pat");
  await db.insert(users).values({ id: userId, login: "member", role: "member" });
  await db
    .insert(apiTokens)
    .values({ id: newId(), userId, name: "member", tokenHash: hashToken(memberToken), scopes: "read" });
}, 30_000);
afterAll(async () => {
  closeDb();
  await server.stop();
  for (const repo of repos) repo.remove();
});

describe("project env vars", () => {
  test("create answers 201 with name, hint and dates, never the value", async () => {
    const projectId = await ownProject();
    const r = await call(`/api/v1/projects/${projectId}/envvars`, {
      method: "POST",
      json: { name: "API_KEY", value: VALUE },
    });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({
      name: "API_KEY",
      hint: `xxxx${VALUE.slice(-4)}`,
      created: true,
      warnings: [],
    });
    expect(typeof r.json.created_at).toBe("string");
    expect(r.text).not.toContain(VALUE);
    expect(r.json.value).toBeUndefined();
  });

  test("the value is sealed in the database, bound to its row", async () => {
    const projectId = await ownProject();
    expect((await put(projectId, "API_KEY", VALUE)).status).toBe(201);
    const row = await db.query.projectEnvVars.findFirst({
      where: and(eq(projectEnvVars.projectId, projectId), eq(projectEnvVars.name, "API_KEY")),
    });
    expect(row?.envelope).toMatch(/^v1:[0-9a-f]{8}:/);
    expect(row?.envelope).not.toContain(VALUE);
    expect(row?.hint).toBe(`xxxx${VALUE.slice(-4)}`);
  });

  test("posting the same name replaces the value (upsert)", async () => {
    const projectId = await ownProject();
    expect((await put(projectId, "API_KEY", VALUE)).json.created).toBe(true);
    const r = await call(`/api/v1/projects/${projectId}/envvars`, {
      method: "POST",
      json: { name: "API_KEY", value: `${VALUE}-2` },
    });
    expect(r.status).toBe(201);
    expect(r.json.created).toBe(false);
    expect(r.json.hint).toBe("xxxxef-2");
    const list = await call(`/api/v1/projects/${projectId}/envvars`);
    expect(list.json.items.map((i: { name: string }) => i.name)).toEqual(["API_KEY"]);
  });

  test("a value shorter than 4 bytes is saved with a warning that it cannot be masked", async () => {
    const projectId = await ownProject();
    const r = await call(`/api/v1/projects/${projectId}/envvars`, {
      method: "POST",
      json: { name: "SHORT", value: "ab1" },
    });
    expect(r.status).toBe(201);
    expect(r.json.hint).toBe("xxxx");
    expect(r.json.warnings).toHaveLength(1);
    expect(r.json.warnings[0].code).toBe("secret_not_maskable");
    expect(r.json.warnings[0].message).not.toContain("ab1");
    const ok = await call(`/api/v1/projects/${projectId}/envvars`, {
      method: "POST",
      json: { name: "FOUR", value: "abcd" },
    });
    expect(ok.json.warnings).toEqual([]);
  });

  test("the listing shows names, hints and dates only", async () => {
    const projectId = await ownProject();
    for (const [name, value] of [
      ["SHORT", "ab1"],
      ["API_KEY", VALUE],
      ["FOUR", "abcd"],
    ])
      expect((await put(projectId, name, value)).status).toBe(201);
    const r = await call(`/api/v1/projects/${projectId}/envvars`);
    expect(r.status).toBe(200);
    expect(r.json.items.map((i: { name: string }) => i.name)).toEqual(["API_KEY", "FOUR", "SHORT"]);
    for (const item of r.json.items)
      expect(Object.keys(item).sort()).toEqual(["created_at", "hint", "name", "updated_at"]);
  });

  test("bad names and values are 400s that never echo the value", async () => {
    const projectId = await ownProject();
    const cases: [unknown, string][] = [
      [{ name: "CAIRN_TOKEN", value: "whatever-value" }, "invalid_secret_name"],
      [{ name: "circle_x", value: "whatever-value" }, "invalid_secret_name"],
      [{ name: "1ABC", value: "whatever-value" }, "invalid_secret_name"],
      [{ name: "A-B", value: "whatever-value" }, "invalid_secret_name"],
      [{ name: "OK_NAME", value: "" }, "invalid_secret_value"],
      [{ name: "OK_NAME", value: "x".repeat(64 * 1024 + 1) }, "invalid_secret_value"],
      [{ name: "OK_NAME" }, "invalid_body"],
      [{ value: "whatever-value" }, "invalid_body"],
    ];
    for (const [json, code] of cases) {
      const r = await call(`/api/v1/projects/${projectId}/envvars`, { method: "POST", json });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe(code);
      expect(r.text).not.toContain("whatever-value");
    }
    const missing = await call("/api/v1/projects/nope/envvars", {
      method: "POST",
      json: { name: "X", value: "abcdef" },
    });
    expect(missing.status).toBe(404);
  });

  test("only admins write; delete is 204 then 404", async () => {
    const projectId = await ownProject();
    expect((await put(projectId, "FOUR", "abcd")).status).toBe(201);
    const denied = await call(`/api/v1/projects/${projectId}/envvars`, {
      method: "POST",
      json: { name: "NOPE", value: "member-value" },
      token: memberToken,
    });
    expect(denied.status).toBe(403);
    expect(
      (await call(`/api/v1/projects/${projectId}/envvars/FOUR`, { method: "DELETE", token: memberToken }))
        .status,
    ).toBe(403);
    expect((await call(`/api/v1/projects/${projectId}/envvars/FOUR`, { method: "DELETE" })).status).toBe(204);
    const again = await call(`/api/v1/projects/${projectId}/envvars/FOUR`, { method: "DELETE" });
    expect(again.status).toBe(404);
    expect(again.json.error.code).toBe("not_found");
  });
});

describe("contexts", () => {
  test("create, list, name clash", async () => {
    const r = await call("/api/v1/contexts", { method: "POST", json: { name: "deploy-prod" } });
    expect(r.status).toBe(201);
    expect(r.json.name).toBe("deploy-prod");
    expect((await call("/api/v1/contexts", { method: "POST", json: { name: "deploy-prod" } })).status).toBe(
      409,
    );
    expect((await call("/api/v1/contexts", { method: "POST", json: { name: "bad name!" } })).status).toBe(
      400,
    );
    expect(
      (await call("/api/v1/contexts", { method: "POST", json: { name: "x" }, token: memberToken })).status,
    ).toBe(403);
    // Other tests make contexts of their own: this one is listed once, the clash made none.
    const list = await call("/api/v1/contexts");
    const names = list.json.items.map((c: { name: string }) => c.name);
    expect(names.filter((n: string) => n === "deploy-prod")).toEqual(["deploy-prod"]);
    expect(names).not.toContain("bad name!");
    expect(names).not.toContain("x");
  });

  test("context env vars: create, list, delete", async () => {
    const made = await call("/api/v1/contexts", { method: "POST", json: { name: "deploy-vars" } });
    expect(made.status).toBe(201);
    const base = `/api/v1/contexts/${made.json.id}/envvars`;
    const r = await call(base, { method: "POST", json: { name: "DEPLOY_TOKEN", value: CONTEXT_VALUE } });
    expect(r.status).toBe(201);
    expect(r.json.hint).toBe(`xxxx${CONTEXT_VALUE.slice(-4)}`);
    await call(base, { method: "POST", json: { name: "OTHER", value: "other-value-1" } });
    expect((await call(base)).json.items.map((i: { name: string }) => i.name)).toEqual([
      "DEPLOY_TOKEN",
      "OTHER",
    ]);
    expect((await call(`${base}/OTHER`, { method: "DELETE" })).status).toBe(204);
    expect((await call("/api/v1/contexts/nope/envvars")).status).toBe(404);
  });

  test("deleting a context deletes its variables", async () => {
    const other = (await call("/api/v1/contexts", { method: "POST", json: { name: "temp" } })).json.id;
    await call(`/api/v1/contexts/${other}/envvars`, {
      method: "POST",
      json: { name: "GONE", value: "gone-value-1" },
    });
    expect((await call(`/api/v1/contexts/${other}`, { method: "DELETE", token: memberToken })).status).toBe(
      403,
    );
    expect((await call(`/api/v1/contexts/${other}`, { method: "DELETE" })).status).toBe(204);
    expect((await call(`/api/v1/contexts/${other}`, { method: "DELETE" })).status).toBe(404);
    expect((await call(`/api/v1/contexts/${other}/envvars`)).status).toBe(404);
  });
});

describe("nothing leaks", () => {
  /** Every kind of write and read of a value, so the checks below hold whatever ran before. */
  async function writeValues() {
    const projectId = await ownProject();
    await put(projectId, "API_KEY", VALUE);
    await put(projectId, "API_KEY", `${VALUE}-2`);
    await put(projectId, "1BAD", VALUE);
    await call(`/api/v1/projects/${projectId}/envvars`, {
      method: "POST",
      json: { name: "NOPE", value: "member-value" },
      token: memberToken,
    });
    await call(`/api/v1/projects/${projectId}/envvars`);
    const ctx = (await call("/api/v1/contexts", { method: "POST", json: { name: `leaks-${projects}` } })).json
      .id;
    await call(`/api/v1/contexts/${ctx}/envvars`, {
      method: "POST",
      json: { name: "DEPLOY_TOKEN", value: CONTEXT_VALUE },
    });
    await call(`/api/v1/contexts/${ctx}/envvars`, {
      method: "POST",
      json: { name: "OTHER", value: "other-value-1" },
    });
    await call(`/api/v1/contexts/${ctx}/envvars`);
    const gone = (await call("/api/v1/contexts", { method: "POST", json: { name: `gone-${projects}` } })).json
      .id;
    await call(`/api/v1/contexts/${gone}/envvars`, {
      method: "POST",
      json: { name: "GONE", value: "gone-value-1" },
    });
    await call(`/api/v1/contexts/${gone}`, { method: "DELETE" });
  }

  test("no API response carried a value", async () => {
    await writeValues();
    const all = seen.join("\n");
    for (const v of [VALUE, `${VALUE}-2`, CONTEXT_VALUE, "other-value-1", "gone-value-1", "member-value"]) {
      expect(all).not.toContain(v);
    }
  });

  test("the database files and the data dir hold no value in clear", async () => {
    await writeValues();
    const bytes = readdirSync(server.dataDir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => readFileSync(join(e.parentPath, e.name)));
    expect(bytes.length).toBeGreaterThan(1);
    for (const v of [VALUE, CONTEXT_VALUE, "other-value-1"]) {
      for (const b of bytes) expect(b.includes(Buffer.from(v))).toBe(false);
    }
  });
});
