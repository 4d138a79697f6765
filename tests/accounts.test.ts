// Accounts over a real socket: personal API tokens (shown once, stored hashed, revocable, expiring,
// scoped), password sign-in with argon2id and its rate limit, users, SSH keys, the audit trail.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { type Db, openDb } from "../server/db/client.ts";
import { apiTokens, users } from "../server/db/schema.ts";
import { hashToken } from "../server/secrets/index.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;
let db: Db;
let closeDb: () => void;

async function call(
  path: string,
  init: { method?: string; token?: string | null; json?: unknown; headers?: Record<string, string> } = {},
) {
  const headers = new Headers(init.headers);
  if (init.token !== null) headers.set("authorization", `Bearer ${init.token ?? server.token}`);
  if (init.json !== undefined) headers.set("content-type", "application/json");
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? "GET",
    headers,
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers, text };
}

const signIn = (login: string, password: string) =>
  call("/api/v1/session", { method: "POST", token: null, json: { login, password } });

beforeAll(async () => {
  server = await startTestServer();
  ({ db, close: closeDb } = await openDb(`file:${join(server.dataDir, "cairn.db")}`));
}, 30_000);
afterAll(async () => {
  closeDb();
  await server.stop();
});

describe("personal API tokens", () => {
  test("shown once, stored hashed, listed without values", async () => {
    const made = await call("/api/v1/tokens", {
      method: "POST",
      json: { name: "ci", scopes: ["read", "write"] },
    });
    expect(made.status).toBe(201);
    expect(made.json.token).toMatch(/^cairn_pat_/);
    expect(made.json.scopes).toEqual(["read", "write"]);
    const row = await db.query.apiTokens.findFirst({ where: eq(apiTokens.id, made.json.id) });
    expect(row!.tokenHash).toBe(hashToken(made.json.token));
    expect(JSON.stringify(row)).not.toContain(made.json.token);
    const list = await call("/api/v1/tokens");
    expect(list.text).not.toContain(made.json.token);
    expect(list.json.items.map((t: { id: string }) => t.id)).toContain(made.json.id);
    expect(list.json.items.every((t: object) => !("token" in t))).toBe(true);
  });

  test("a revoked token is 401 at once", async () => {
    const made = await call("/api/v1/tokens", { method: "POST", json: { name: "short", scopes: ["read"] } });
    expect((await call("/api/v1/projects", { token: made.json.token })).status).toBe(200);
    expect((await call(`/api/v1/tokens/${made.json.id}`, { method: "DELETE" })).status).toBe(204);
    const after = await call("/api/v1/projects", { token: made.json.token });
    expect(after.status).toBe(401);
    expect(after.json.error.code).toBe("unauthorized");
    const listed = (await call("/api/v1/tokens")).json.items.find(
      (t: { id: string }) => t.id === made.json.id,
    );
    expect(listed.revoked_at).not.toBeNull();
  });

  test("an expired token is 401", async () => {
    const made = await call("/api/v1/tokens", {
      method: "POST",
      json: { name: "brief", scopes: ["read"], expires_at: new Date(Date.now() + 1200).toISOString() },
    });
    expect(made.status).toBe(201);
    expect((await call("/api/v1/projects", { token: made.json.token })).status).toBe(200);
    await Bun.sleep(1300);
    expect((await call("/api/v1/projects", { token: made.json.token })).status).toBe(401);
  });

  test("expiry in the past and unknown scopes are 400s", async () => {
    const past = await call("/api/v1/tokens", {
      method: "POST",
      json: { name: "x", scopes: ["read"], expires_at: "2001-01-01T00:00:00Z" },
    });
    expect(past.status).toBe(400);
    const scope = await call("/api/v1/tokens", { method: "POST", json: { name: "x", scopes: ["root"] } });
    expect(scope.status).toBe(400);
    expect(scope.json.error.code).toBe("invalid_body");
    expect(scope.json.error.details.field).toBe("scopes");
    expect(scope.json.error.details.issues[0].path).toEqual(["scopes", 0]);
  });

  test("scopes: read cannot write, write cannot administer, neither mints a stronger token", async () => {
    const read = (await call("/api/v1/tokens", { method: "POST", json: { name: "r", scopes: ["read"] } }))
      .json.token;
    const write = (await call("/api/v1/tokens", { method: "POST", json: { name: "w", scopes: ["write"] } }))
      .json.token;
    const ctx = { method: "POST", json: { name: "scoped-ctx" } };
    expect((await call("/api/v1/contexts", { ...ctx, token: read })).status).toBe(403);
    expect((await call("/api/v1/contexts", { ...ctx, token: write })).status).toBe(403);
    expect((await call("/api/v1/audit", { token: read })).status).toBe(200);
    const stronger = await call("/api/v1/tokens", {
      method: "POST",
      token: write,
      json: { name: "a", scopes: ["admin"] },
    });
    expect(stronger.status).toBe(403);
    expect(
      (await call("/api/v1/tokens", { method: "POST", token: read, json: { name: "r2", scopes: ["read"] } }))
        .status,
    ).toBe(403);
  });

  test("another user's token cannot be revoked (404), and keeps working", async () => {
    await call("/api/v1/users", {
      method: "POST",
      json: { login: "tok-owner", password: "tok-owner password" },
    });
    const session = await signIn("tok-owner", "tok-owner password");
    const cookie = session.headers.get("set-cookie")!.split(";")[0];
    const made = await call("/api/v1/tokens", {
      method: "POST",
      token: null,
      headers: { cookie, "x-cairn-csrf": session.json.csrf },
      json: { name: "mine", scopes: ["read"] },
    });
    expect(made.status).toBe(201);
    expect((await call(`/api/v1/tokens/${made.json.id}`, { method: "DELETE" })).status).toBe(404);
    expect((await call("/api/v1/users/me", { token: made.json.token })).json.login).toBe("tok-owner");
    // Without the CSRF header a cookie cannot write.
    const forged = await call("/api/v1/tokens", {
      method: "POST",
      token: null,
      headers: { cookie },
      json: { name: "x", scopes: ["read"] },
    });
    expect(forged.status).toBe(403);
  });
});

describe("sessions from tokens", () => {
  test("a read token's browser session cannot write", async () => {
    const read = (
      await call("/api/v1/tokens", { method: "POST", json: { name: "ro-session", scopes: ["read"] } })
    ).json.token;
    const session = await call("/api/v1/session", { method: "POST", token: null, json: { token: read } });
    expect(session.status).toBe(201);
    const cookie = session.headers.get("set-cookie")!.split(";")[0];
    const headers = { cookie, "x-cairn-csrf": session.json.csrf };
    expect((await call("/api/v1/projects", { token: null, headers })).status).toBe(200);
    const write = await call("/api/v1/contexts", {
      method: "POST",
      token: null,
      headers,
      json: { name: "via-ro-session" },
    });
    expect(write.status).toBe(403);
  });
});

describe("users", () => {
  test("admins create users and change roles; the last admin stays one", async () => {
    const made = await call("/api/v1/users", { method: "POST", json: { login: "dana", role: "member" } });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ login: "dana", role: "member", has_password: false });
    expect((await call("/api/v1/users", { method: "POST", json: { login: "dana" } })).status).toBe(409);
    const promoted = await call(`/api/v1/users/${made.json.id}`, {
      method: "PATCH",
      json: { role: "admin" },
    });
    expect(promoted.json.role).toBe("admin");
    await call(`/api/v1/users/${made.json.id}`, { method: "PATCH", json: { role: "member" } });
    const me = (await call("/api/v1/users/me")).json;
    const last = await call(`/api/v1/users/${me.id}`, { method: "PATCH", json: { role: "member" } });
    expect(last.status).toBe(409);
    expect(last.json.error.code).toBe("last_admin");
  });

  test("the list is paginated with a cursor", async () => {
    for (const l of ["pg-a", "pg-b", "pg-c"])
      await call("/api/v1/users", { method: "POST", json: { login: l } });
    const logins: string[] = [];
    let cursor: string | null = "";
    let pages = 0;
    while (cursor !== null) {
      const res: { json: { items: { login: string }[]; next_cursor: string | null } } = await call(
        `/api/v1/users?limit=2&cursor=${cursor}`,
      );
      logins.push(...res.json.items.map((u) => u.login));
      cursor = res.json.next_cursor;
      pages++;
    }
    expect(pages).toBeGreaterThan(1);
    expect(logins).toEqual([...logins].sort());
    expect(new Set(logins).size).toBe(logins.length);
    expect(logins).toContain("pg-c");
    expect((await call("/api/v1/users?limit=0")).status).toBe(400);
    expect((await call("/api/v1/users?cursor=%%%")).status).toBe(400);
  });

  test("passwords are stored as argon2id hashes", async () => {
    const made = await call("/api/v1/users", {
      method: "POST",
      json: { login: "erin", role: "member", password: "a long enough password" },
    });
    expect(made.json.has_password).toBe(true);
    const row = await db.query.users.findFirst({ where: eq(users.login, "erin") });
    expect(row!.passwordHash).toStartWith("$argon2id$");
    const short = await call("/api/v1/users", {
      method: "POST",
      json: { login: "frank", password: "short" },
    });
    expect(short.status).toBe(400);
  });
});

describe("password sign-in", () => {
  test("signs in with a session cookie; a wrong password is 401", async () => {
    await call("/api/v1/users", {
      method: "POST",
      json: { login: "gina", password: "gina's long password" },
    });
    const ok = await signIn("gina", "gina's long password");
    expect(ok.status).toBe(201);
    expect(ok.json.user.login).toBe("gina");
    expect(ok.headers.get("set-cookie")).toContain("HttpOnly");
    const bad = await signIn("gina", "not the password!!");
    expect(bad.status).toBe(401);
    expect(bad.json.error.code).toBe("unauthorized");
    const nobody = await signIn("nobody-at-all", "whatever password");
    expect(nobody.status).toBe(401);
    expect(nobody.json.error.message).toBe(bad.json.error.message);
  });

  test("five failures in a row: the sixth try is 429 with Retry-After, even with the right password", async () => {
    await call("/api/v1/users", {
      method: "POST",
      json: { login: "hank", password: "hank's long password" },
    });
    for (let i = 0; i < 5; i++) expect((await signIn("hank", `wrong password ${i}`)).status).toBe(401);
    const limited = await signIn("hank", "hank's long password");
    expect(limited.status).toBe(429);
    expect(limited.json.error.code).toBe("too_many_attempts");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another login from the same address is not affected.
    await call("/api/v1/users", {
      method: "POST",
      json: { login: "ivy", password: "ivy's long password" },
    });
    expect((await signIn("ivy", "ivy's long password")).status).toBe(201);
  });

  test("sign-ins and failures are audited, without the password", async () => {
    // This test's own sign-in and failure.
    await call("/api/v1/users", {
      method: "POST",
      json: { login: "jo", password: "jo's long password" },
    });
    expect((await signIn("jo", "jo's long password")).status).toBe(201);
    expect((await signIn("jo", "wrong password for jo")).status).toBe(401);
    const audit = await call("/api/v1/audit?limit=200");
    const actions = audit.json.items.map((e: { action: string }) => e.action);
    expect(actions).toContain("session.signed_in");
    expect(actions).toContain("session.sign_in_failed");
    expect(audit.text).not.toContain("wrong password");
    expect(audit.text).not.toContain("long password");
  });
});

describe("SSH keys", () => {
  const ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

  test("add, list, remove; fingerprints as OpenSSH prints them", async () => {
    const made = await call("/api/v1/users/me/ssh-keys", { method: "POST", json: { public_key: ED } });
    expect(made.status).toBe(201);
    expect(made.json.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(made.json.name).toBe("alice@laptop");
    expect(
      (await call("/api/v1/users/me/ssh-keys", { method: "POST", json: { public_key: ED } })).status,
    ).toBe(409);
    const list = await call("/api/v1/users/me/ssh-keys");
    expect(list.json.items.map((k: { id: string }) => k.id)).toEqual([made.json.id]);
    expect((await call(`/api/v1/users/me/ssh-keys/${made.json.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await call("/api/v1/users/me/ssh-keys")).json.items).toEqual([]);
  });

  test("anything but one ed25519, RSA or ECDSA public key line is a 400", async () => {
    for (const public_key of [
      "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
      "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ",
      "ssh-ed25519 not-base64!",
      "-----BEGIN OPENSSH PRIVATE KEY-----",
      `${ED}\n${ED}`,
    ]) {
      const res = await call("/api/v1/users/me/ssh-keys", { method: "POST", json: { public_key } });
      expect(`${public_key}: ${res.status}`).toBe(`${public_key}: 400`);
    }
  });
});

test("the initial admin token file is what the server printed", () => {
  expect(readFileSync(join(server.dataDir, "initial-admin-token"), "utf8").trim()).toBe(server.token);
});
