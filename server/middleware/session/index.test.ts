// Browser sessions over a real socket: sign in with an API token, the cookie's flags, reads with the
// cookie, writes refused without the CSRF header and accepted with it, sign-out, expiry.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keepingUmask } from "../../../tests/harness/umask.ts";
import { startTestServer, type TestServer } from "../../../tests/support/server.ts";
import { assemble } from "../../assemble.ts";
import { configFromEnv } from "../../bootstrap.ts";
import { openDb } from "../../db/client.ts";
import { sessions } from "../../db/schema.ts";
import { csrfFor, SESSION_COOKIE } from "./index.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

async function signIn(token = server.token) {
  const res = await fetch(`${server.url}/api/v1/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token }),
  });
  return res;
}

function cookieOf(res: Response): string {
  const set = res.headers.get("set-cookie") ?? "";
  const m = new RegExp(`${SESSION_COOKIE}=([^;]+)`).exec(set);
  if (!m) throw new Error(`no session cookie in ${set}`);
  return `${SESSION_COOKIE}=${m[1]}`;
}

describe("sessions", () => {
  test("an API token buys an httpOnly, SameSite=Strict cookie and a CSRF value", async () => {
    const res = await signIn();
    expect(res.status).toBe(201);
    const set = res.headers.get("set-cookie")!;
    expect(set).toContain("HttpOnly");
    expect(set).toContain("SameSite=Strict");
    expect(set).not.toContain("Secure"); // plain HTTP test server
    const body = (await res.json()) as { user: { login: string; role: string }; csrf: string };
    expect(body.user).toMatchObject({ login: "admin", role: "admin" });
    expect(body.csrf).toBe(csrfFor(decodeURIComponent(cookieOf(res).split("=")[1])));
  });

  test("a bad token is 401 and sets no cookie", async () => {
    const res = await signIn("cairn_pat_notavalidtokennotavalidtokennotavalidtok");
    expect(res.status).toBe(401);
    expect(res.headers.get("set-cookie")).toBeNull();
    expect((await signIn("")).status).toBe(400);
  });

  test("the cookie reads the API; writes need X-Cairn-CSRF; sign-out ends it", async () => {
    const res = await signIn();
    const cookie = cookieOf(res);
    const { csrf } = (await res.json()) as { csrf: string };
    const get = await fetch(`${server.url}/api/v1/projects`, { headers: { cookie } });
    expect(get.status).toBe(200);
    const again = (await (await fetch(`${server.url}/api/v1/session`, { headers: { cookie } })).json()) as {
      csrf: string;
    };
    expect(again.csrf).toBe(csrf);

    const body = JSON.stringify({ name: "csrf-test", repo_url: "/tmp/nowhere" });
    const headers = { cookie, "content-type": "application/json" };
    const noCsrf = await fetch(`${server.url}/api/v1/projects`, { method: "POST", headers, body });
    expect(noCsrf.status).toBe(403);
    const wrong = await fetch(`${server.url}/api/v1/projects`, {
      method: "POST",
      headers: { ...headers, "x-cairn-csrf": "nope" },
      body,
    });
    expect(wrong.status).toBe(403);
    const ok = await fetch(`${server.url}/api/v1/projects`, {
      method: "POST",
      headers: { ...headers, "x-cairn-csrf": csrf },
      body,
    });
    expect(ok.status).toBe(201);

    // Bearer requests need no CSRF header.
    const bearer = await server.api("/api/v1/projects", {
      method: "POST",
      json: { name: "csrf-test-2", repo_url: "/tmp/nowhere" },
    });
    expect(bearer.status).toBe(201);

    expect(
      (await fetch(`${server.url}/api/v1/session`, { method: "DELETE", headers: { cookie } })).status,
    ).toBe(403);
    const out = await fetch(`${server.url}/api/v1/session`, {
      method: "DELETE",
      headers: { cookie, "x-cairn-csrf": csrf },
    });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toContain("Max-Age=0");
    expect((await fetch(`${server.url}/api/v1/projects`, { headers: { cookie } })).status).toBe(401);
  });

  test("over TLS the cookie is also Secure", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "cairn-session-tls-"));
    const a = await keepingUmask(() => assemble(configFromEnv({ CAIRN_DATA_DIR: dataDir }), { tls: true }));
    try {
      const token = readFileSync(join(dataDir, "initial-admin-token"), "utf8").trim();
      const res = await a.app.request("https://cairn.test/api/v1/session", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token }),
      });
      expect(res.status).toBe(201);
      expect(res.headers.get("set-cookie")).toMatch(/; Secure/);
    } finally {
      a.closeDb();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("an expired session is refused", async () => {
    const res = await signIn();
    const cookie = cookieOf(res);
    const { db, close } = await openDb(`file:${join(server.dataDir, "cairn.db")}`);
    try {
      await db.update(sessions).set({ expiresAt: Date.now() - 1 });
    } finally {
      close();
    }
    expect((await fetch(`${server.url}/api/v1/projects`, { headers: { cookie } })).status).toBe(401);
  });

  test("sign-in takes only JSON (no login CSRF from a cross-site form)", async () => {
    const res = await fetch(`${server.url}/api/v1/session`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ token: server.token }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  test("an unknown cookie is 401", async () => {
    const res = await fetch(`${server.url}/api/v1/projects`, {
      headers: { cookie: `${SESSION_COOKIE}=forged` },
    });
    expect(res.status).toBe(401);
  });
});
