// Project and context environment variables over a real socket and a real libSQL file: write-only
// values (no response ever carries one), hints, name rules, the short-value warning, admin-only writes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { createRepo } from "../../tests/support/git.ts";
import { startTestServer, type TestServer } from "../../tests/support/server.ts";
import { type Db, openDb } from "../db/client.ts";
import { apiTokens, projectEnvVars, users } from "../db/schema.ts";
import { hashToken, newToken } from "../secrets/index.ts";
import { newId } from "../services/ids.ts";

let server: TestServer;
let db: Db;
let closeDb: () => void;
let projectId: string;
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

beforeAll(async () => {
  server = await startTestServer();
  ({ db, close: closeDb } = await openDb(`file:${join(server.dataDir, "cairn.db")}`));
  const repo = createRepo();
  repo.commit({ README: "x\n" });
  projectId = (
    await call("/api/v1/projects", { method: "POST", json: { name: "secrets-api", repo_url: repo.bare } })
  ).json.id;
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
});

describe("project env vars", () => {
  test("create answers 201 with name, hint and dates, never the value", async () => {
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
    const row = await db.query.projectEnvVars.findFirst({ where: eq(projectEnvVars.name, "API_KEY") });
    expect(row?.envelope).toMatch(/^v1:[0-9a-f]{8}:/);
    expect(row?.envelope).not.toContain(VALUE);
    expect(row?.hint).toBe(`xxxx${VALUE.slice(-4)}`);
  });

  test("posting the same name replaces the value (upsert)", async () => {
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
    const r = await call(`/api/v1/projects/${projectId}/envvars`);
    expect(r.status).toBe(200);
    expect(r.json.items.map((i: { name: string }) => i.name)).toEqual(["API_KEY", "FOUR", "SHORT"]);
    for (const item of r.json.items)
      expect(Object.keys(item).sort()).toEqual(["created_at", "hint", "name", "updated_at"]);
  });

  test("bad names and values are 400s that never echo the value", async () => {
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
  let contextId: string;

  test("create, list, name clash", async () => {
    const r = await call("/api/v1/contexts", { method: "POST", json: { name: "deploy-prod" } });
    expect(r.status).toBe(201);
    contextId = r.json.id;
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
    const list = await call("/api/v1/contexts");
    expect(list.json.items.map((c: { name: string }) => c.name)).toEqual(["deploy-prod"]);
  });

  test("context env vars: create, list, delete", async () => {
    const base = `/api/v1/contexts/${contextId}/envvars`;
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
  test("no API response carried a value", () => {
    const all = seen.join("\n");
    for (const v of [VALUE, `${VALUE}-2`, CONTEXT_VALUE, "other-value-1", "gone-value-1", "member-value"]) {
      expect(all).not.toContain(v);
    }
  });

  test("the database files and the data dir hold no value in clear", () => {
    const bytes = readdirSync(server.dataDir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => readFileSync(join(e.parentPath, e.name)));
    expect(bytes.length).toBeGreaterThan(1);
    for (const v of [VALUE, CONTEXT_VALUE, "other-value-1"]) {
      for (const b of bytes) expect(b.includes(Buffer.from(v))).toBe(false);
    }
  });
});
