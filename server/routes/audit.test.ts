// The audit log over a real socket and a real libSQL file: each audited action writes exactly one row
// with the right actor and source address; the log is admin-only, filterable, paginated, exportable
// as NDJSON, and the database refuses to change it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import nacl from "tweetnacl";
import { PROTOCOL_HEADER, PROTOCOL_VERSION } from "../../protocol/index.ts";
import { createRepo } from "../../tests/support/git.ts";
import { startTestServer, type TestServer } from "../../tests/support/server.ts";
import { trustedClientIp } from "../assemble.ts";
import { configFromEnv } from "../bootstrap.ts";
import { type Db, openDb } from "../db/client.ts";
import { apiTokens, auditEvents, users } from "../db/schema.ts";
import { hashToken, newToken } from "../secrets/index.ts";
import { newId } from "../services/ids.ts";

type Event = {
  id: number;
  at: string;
  actor: { type: string; id: string | null };
  action: string;
  target: { type: string; id: string } | null;
  ip: string | null;
  details: Record<string, unknown>;
};

let server: TestServer;
let db: Db;
let closeDb: () => void;
let adminId: string;
let memberToken: string;
let projectId: string;

const json = async <T>(res: Response): Promise<T> => (await res.json()) as T;
const events = async (query = ""): Promise<Event[]> =>
  (await json<{ items: Event[] }>(await server.api(`/api/v1/audit?limit=500${query}`))).items;
/** Runs `action` and returns the audit rows it added. */
async function added(action: () => Promise<unknown>): Promise<Event[]> {
  const before = (await events())[0]?.id ?? 0;
  await action();
  return (await events()).filter((e) => e.id > before);
}

beforeAll(async () => {
  server = await startTestServer();
  ({ db, close: closeDb } = await openDb(`file:${join(server.dataDir, "cairn.db")}`));
  adminId = (await db.query.users.findFirst({ where: eq(users.login, "admin") }))!.id;
  const memberId = newId();
  memberToken = newToken("cairn_pat");
  await db.insert(users).values({ id: memberId, login: "member", role: "member" });
  await db
    .insert(apiTokens)
    .values({ id: newId(), userId: memberId, name: "m", tokenHash: hashToken(memberToken), scopes: "read" });
  const repo = createRepo();
  repo.commit({ README: "x\n" });
  projectId = (
    await json<{ id: string }>(
      await server.api("/api/v1/projects", {
        method: "POST",
        json: { name: "audited", repo_url: repo.bare },
      }),
    )
  ).id;
}, 30_000);
afterAll(async () => {
  closeDb();
  await server.stop();
});

describe("each audited action writes exactly one row with the right actor", () => {
  test("the first admin's token, made at first start, by the system", async () => {
    const rows = await events("&action=token.created&actor_type=system");
    expect(rows).toHaveLength(1);
    expect(rows[0].target?.type).toBe("api_token");
    expect(rows[0].details.login).toBe("admin");
  });

  test("a registration token, by the admin, from 127.0.0.1", async () => {
    const rows = await added(() => server.api("/api/v1/builders/registration-tokens", { method: "POST" }));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      action: "token.created",
      actor: { type: "user", id: adminId },
      ip: "127.0.0.1",
    });
    expect(rows[0].target?.type).toBe("registration_token");
    expect(JSON.stringify(rows[0])).not.toContain("cairn_reg_");
  });

  test("a builder registering, by the builder", async () => {
    const { token } = await json<{ token: string }>(
      await server.api("/api/v1/builders/registration-tokens", { method: "POST" }),
    );
    let builderId = "";
    const rows = await added(async () => {
      const res = await fetch(`${server.url}/api/v1/builder/register`, {
        method: "POST",
        headers: { "content-type": "application/json", [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) },
        body: JSON.stringify({
          registration_token: token,
          name: "audited-builder",
          public_key: Buffer.from(nacl.box.keyPair().publicKey).toString("base64"),
          slots: 1,
          driver: "process",
        }),
      });
      expect(res.status).toBe(201);
      builderId = (await json<{ builder_id: string }>(res)).builder_id;
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      action: "builder.registered",
      actor: { type: "builder", id: builderId },
      target: { type: "builder", id: builderId },
      ip: "127.0.0.1",
    });
    expect(rows[0].details.registration_token_created_by).toBe(adminId);
    expect(JSON.stringify(rows[0])).not.toContain("cairn_bld_");
  });

  test("a builder with a malformed key is refused and not audited", async () => {
    const { token } = await json<{ token: string }>(
      await server.api("/api/v1/builders/registration-tokens", { method: "POST" }),
    );
    const rows = await added(async () => {
      const res = await fetch(`${server.url}/api/v1/builder/register`, {
        method: "POST",
        headers: { "content-type": "application/json", [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) },
        body: JSON.stringify({
          registration_token: token,
          name: "x",
          public_key: "bm9wZQ==",
          slots: 1,
          driver: "process",
        }),
      });
      expect(res.status).toBe(400);
    });
    expect(rows).toEqual([]);
  });

  test("secret created, updated, deleted: one row each, name only", async () => {
    const base = `/api/v1/projects/${projectId}/envvars`;
    const value = "audited-secret-value-123";
    const created = await added(() => server.api(base, { method: "POST", json: { name: "AUDITED", value } }));
    const updated = await added(() =>
      server.api(base, { method: "POST", json: { name: "AUDITED", value: `${value}x` } }),
    );
    const deleted = await added(() => server.api(`${base}/AUDITED`, { method: "DELETE" }));
    const refused = await added(() =>
      server.api(base, {
        method: "POST",
        json: { name: "X", value },
        headers: { authorization: `Bearer ${memberToken}` },
      }),
    );
    const notFound = await added(() => server.api(`${base}/AUDITED`, { method: "DELETE" }));
    for (const [rows, action] of [
      [created, "secret.created"],
      [updated, "secret.updated"],
      [deleted, "secret.deleted"],
    ] as const) {
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ action, actor: { type: "user", id: adminId }, ip: "127.0.0.1" });
      expect(rows[0].target).toEqual({ type: "project_env_var", id: `${projectId}/AUDITED` });
      expect(rows[0].details.name).toBe("AUDITED");
      expect(JSON.stringify(rows[0])).not.toContain(value);
    }
    expect(refused).toEqual([]);
    expect(notFound).toEqual([]);
  });

  test("context created and deleted; its secrets audited as context env vars", async () => {
    let id = "";
    const created = await added(async () => {
      id = (
        await json<{ id: string }>(
          await server.api("/api/v1/contexts", { method: "POST", json: { name: "audit-ctx" } }),
        )
      ).id;
    });
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({
      action: "context.created",
      actor: { type: "user", id: adminId },
      target: { type: "context", id },
    });
    const secret = await added(() =>
      server.api(`/api/v1/contexts/${id}/envvars`, {
        method: "POST",
        json: { name: "CTX", value: "ctx-audit-value" },
      }),
    );
    expect(secret).toHaveLength(1);
    expect(secret[0]).toMatchObject({
      action: "secret.created",
      target: { type: "context_env_var", id: `${id}/CTX` },
    });
    const deleted = await added(() => server.api(`/api/v1/contexts/${id}`, { method: "DELETE" }));
    expect(deleted).toHaveLength(1);
    expect(deleted[0]).toMatchObject({
      action: "context.deleted",
      details: { name: "audit-ctx", env_vars_deleted: 1 },
    });
  });
});

describe("GET /api/v1/audit", () => {
  // Events of its own to page and filter, whichever tests ran before: four secrets written and
  // deleted by the admin (eight rows), beside whatever else is there.
  beforeAll(async () => {
    const base = `/api/v1/projects/${projectId}/envvars`;
    for (const name of ["PAGED_1", "PAGED_2", "PAGED_3", "PAGED_4"]) {
      expect((await server.api(base, { method: "POST", json: { name, value: "v" } })).status).toBe(201);
      expect((await server.api(`${base}/${name}`, { method: "DELETE" })).status).toBe(204);
    }
  });

  test("is for admins only", async () => {
    expect((await fetch(`${server.url}/api/v1/audit`)).status).toBe(401);
    const res = await server.api("/api/v1/audit", { headers: { authorization: `Bearer ${memberToken}` } });
    expect(res.status).toBe(403);
    expect((await json<{ error: { code: string } }>(res)).error.code).toBe("forbidden");
  });

  test("pages with a cursor, newest first, no event twice", async () => {
    const all = await events();
    expect(all.length).toBeGreaterThan(5);
    const ids: number[] = [];
    let cursor = "";
    for (let i = 0; i < 100; i++) {
      const page = await json<{ items: Event[]; next_cursor: string | null }>(
        await server.api(`/api/v1/audit?limit=2${cursor ? `&cursor=${cursor}` : ""}`),
      );
      expect(page.items.length).toBeLessThanOrEqual(2);
      ids.push(...page.items.map((e) => e.id));
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    expect(ids).toEqual(all.map((e) => e.id));
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
  });

  test("filters by action, actor and time", async () => {
    const byAction = await events("&action=secret.created");
    expect(byAction.length).toBeGreaterThan(0);
    expect(byAction.every((e) => e.action === "secret.created")).toBe(true);
    const byActor = await events(`&actor=${adminId}`);
    expect(byActor.length).toBeGreaterThan(0);
    expect(byActor.every((e) => e.actor.id === adminId)).toBe(true);
    expect(await events(`&since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual(
      [],
    );
    expect((await server.api("/api/v1/audit?limit=0")).status).toBe(400);
    expect((await server.api("/api/v1/audit?actor_type=robot")).status).toBe(400);
    expect((await server.api("/api/v1/audit?since=yesterday")).status).toBe(400);
  });

  test("exports NDJSON, by query or by Accept", async () => {
    const all = await events();
    for (const res of [
      await server.api("/api/v1/audit?format=ndjson"),
      await server.api("/api/v1/audit", { headers: { accept: "application/x-ndjson" } }),
    ]) {
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("application/x-ndjson");
      const lines = (await res.text())
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l) as Event);
      expect(lines.map((e) => e.id)).toEqual(all.map((e) => e.id));
    }
  });
});

test("the audit table is append-only in the database itself", async () => {
  await expect((async () => db.update(auditEvents).set({ action: "forged" }))()).rejects.toThrow();
  await expect((async () => db.delete(auditEvents))()).rejects.toThrow();
  expect((await events("&action=forged")).length).toBe(0);
});

describe("source address", () => {
  const ctx = (xff?: string) =>
    ({
      req: { header: (name: string) => (name.toLowerCase() === "x-forwarded-for" ? xff : undefined) },
    }) as never;
  const peer = () => "10.0.0.5";

  test("X-Forwarded-For is ignored unless CAIRN_TRUST_PROXY=1", () => {
    const trust = (env: Record<string, string>) => configFromEnv(env).trustProxy;
    expect(trustedClientIp(peer, trust({}))(ctx("203.0.113.9"))).toBe("10.0.0.5");
    expect(trustedClientIp(peer, trust({ CAIRN_TRUST_PROXY: "true" }))(ctx("203.0.113.9"))).toBe("10.0.0.5");
  });

  test("behind a trusted proxy, the address the proxy appended (the last one) counts", () => {
    const ip = trustedClientIp(peer, configFromEnv({ CAIRN_TRUST_PROXY: "1" }).trustProxy);
    expect(ip(ctx("198.51.100.1, 203.0.113.9"))).toBe("203.0.113.9");
    expect(ip(ctx())).toBe("10.0.0.5");
  });

  test("a forged X-Forwarded-For on a direct connection does not change the audited IP", async () => {
    const before = (await events())[0]?.id ?? 0;
    await server.api("/api/v1/builders/registration-tokens", {
      method: "POST",
      headers: { "x-forwarded-for": "203.0.113.66" },
    });
    const rows = (await events()).filter((e) => e.id > before);
    expect(rows).toHaveLength(1);
    expect(rows[0].ip).toBe("127.0.0.1");
  });
});
