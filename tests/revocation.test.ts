// Revocation is immediate and total, over a real socket: revoking a token ends the sessions made
// from it; removing a user, making an admin a member, or removing a membership ends what they held (a
// membership: that project's streams only); a lowered project role loses what it gave at the next request;
// open SSE and WebSocket streams end too (before the revoking call answers, on this server; the
// StreamGuard's twice-a-second round covers other server processes).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";
import { waitForPlan } from "./support/trigger.ts";

let server: TestServer;
const ids: Record<string, string> = {};
const PASSWORD = "correct horse battery staple";

async function call(
  path: string,
  init: { method?: string; token?: string | null; json?: unknown; cookie?: string; csrf?: string } = {},
) {
  const headers = new Headers(waitForPlan(path, init.method));
  if (init.cookie) {
    headers.set("cookie", init.cookie);
    if (init.csrf) headers.set("x-cairn-csrf", init.csrf);
  } else if (init.token !== null) headers.set("authorization", `Bearer ${init.token ?? server.token}`);
  if (init.json !== undefined) headers.set("content-type", "application/json");
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? "GET",
    headers,
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function makeUser(login: string, role: "admin" | "member") {
  const made = await call("/api/v1/users", { method: "POST", json: { login, role, password: PASSWORD } });
  expect(made.status).toBe(201);
  return made.json.id as string;
}

/** A session cookie (and its CSRF value), signed in with a password or an API token. */
async function session(body: { login: string; password: string } | { token: string }) {
  const res = await fetch(`${server.url}/api/v1/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  const { csrf } = (await res.json()) as { csrf: string };
  return { cookie: res.headers.get("set-cookie")!.split(";")[0], csrf };
}

async function tokenFor(auth: { cookie: string; csrf: string }, scopes = ["admin"]) {
  const made = await call("/api/v1/tokens", { method: "POST", json: { name: "t", scopes }, ...auth });
  expect(made.status).toBe(201);
  return { id: made.json.id as string, token: made.json.token as string };
}

/** An open SSE stream; `ended` resolves with everything it sent once the server ends it. */
async function openSse(path: string, auth: { token?: string; cookie?: string }) {
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (auth.cookie) headers.cookie = auth.cookie;
  else headers.authorization = `Bearer ${auth.token}`;
  const res = await fetch(`${server.url}${path}`, { headers });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  // The first bytes prove the stream is open (and registered) before the test revokes anything.
  const first = await reader.read();
  text += decoder.decode(first.value);
  const ended = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += decoder.decode(value);
    }
  })();
  return { ended };
}

/** An open log WebSocket; `closed` resolves with its close code once the server closes it. */
async function openWs(token: string) {
  const ws = new WebSocket(`${server.url.replace("http", "ws")}/api/v1/jobs/${ids.job}/log/ws`, {
    headers: { authorization: `Bearer ${token}`, origin: server.url },
  } as unknown as string[]);
  const closed = new Promise<number>((resolve) => {
    ws.onclose = (e) => resolve(e.code);
  });
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("the WebSocket was refused"));
  });
  return { closed };
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
    json: { name: "revoked", repo_url: repo.bare },
  });
  expect(p.status).toBe(201);
  ids.project = p.json.id;
  const pl = await call(`/api/v1/projects/${ids.project}/pipelines`, {
    method: "POST",
    json: { branch: "main" },
  });
  expect(pl.status).toBe(201);
  ids.job = pl.json.jobs[0].id;
}, 60_000);
afterAll(() => server.stop());

describe("revoking an API token", () => {
  test("ends the sessions made from it and every stream opened with either", async () => {
    await makeUser("tess", "admin");
    const owner = await session({ login: "tess", password: PASSWORD });
    const { id, token } = await tokenFor(owner);
    const fromToken = await session({ token });
    expect((await call("/api/v1/session", fromToken)).status).toBe(200);
    const cookieEvents = await openSse("/api/v1/events", fromToken);
    const cookieLog = await openSse(`/api/v1/jobs/${ids.job}/log/stream`, fromToken);
    const tokenEvents = await openSse("/api/v1/events", { token });
    const ws = await openWs(token);
    const ownerEvents = await openSse("/api/v1/events", owner);

    expect((await call(`/api/v1/tokens/${id}`, { method: "DELETE", ...owner })).status).toBe(204);

    expect(await cookieEvents.ended).toContain("event: revoked");
    expect(await cookieLog.ended).toContain("event: revoked");
    expect(await tokenEvents.ended).toContain("event: revoked");
    expect(await ws.closed).toBe(1008);
    expect((await call("/api/v1/session", fromToken)).status).toBe(401);
    // The session can no longer mint a token (it could make a new admin token before).
    const mint = await call("/api/v1/tokens", {
      method: "POST",
      json: { name: "x", scopes: ["admin"] },
      ...fromToken,
    });
    expect(mint.status).toBe(401);
    expect((await call("/api/v1/projects", { token })).status).toBe(401);
    // The password session that revoked it lives on, and so does its stream.
    expect((await call("/api/v1/session", owner)).status).toBe(200);
    const still = await Promise.race([ownerEvents.ended, call("/api/v1/session", owner).then(() => "open")]);
    expect(still).toBe("open");
  }, 60_000);
});

describe("removing a user", () => {
  test("ends their sessions, tokens and streams; the audit log keeps who it was", async () => {
    const uid = await makeUser("remi", "member");
    const s = await session({ login: "remi", password: PASSWORD });
    const { token } = await tokenFor(s, ["read"]);
    const events = await openSse("/api/v1/events", s);
    const tokenEvents = await openSse("/api/v1/events", { token });

    expect((await call(`/api/v1/users/${uid}`, { method: "DELETE" })).status).toBe(204);

    expect(await events.ended).toContain("event: revoked");
    expect(await tokenEvents.ended).toContain("event: revoked");
    expect((await call("/api/v1/session", s)).status).toBe(401);
    expect((await call("/api/v1/projects", { token })).status).toBe(401);
    expect((await session({ login: "remi", password: PASSWORD }).catch(() => null)) === null).toBe(true);
    const audit = await call("/api/v1/audit?action=user.removed");
    expect(audit.json.items[0]).toMatchObject({ target: { type: "user", id: uid } });
    expect((await call(`/api/v1/users/${uid}`, { method: "DELETE" })).status).toBe(404);
  }, 60_000);

  test("the last admin cannot be removed", async () => {
    const me = await call("/api/v1/users/me");
    const admins = (await call("/api/v1/users?limit=100")).json.items.filter(
      (u: { role: string }) => u.role === "admin",
    );
    for (const a of admins)
      if (a.id !== me.json.id) await call(`/api/v1/users/${a.id}`, { method: "DELETE" });
    const res = await call(`/api/v1/users/${me.json.id}`, { method: "DELETE" });
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe("last_admin");
  }, 60_000);
});

describe("making an admin a member", () => {
  test("ends their sessions and the streams that read every project", async () => {
    const uid = await makeUser("ada", "admin");
    const s = await session({ login: "ada", password: PASSWORD });
    const { token } = await tokenFor(s);
    const events = await openSse("/api/v1/events", { token });
    const log = await openSse(`/api/v1/jobs/${ids.job}/log/stream`, { token });

    const patched = await call(`/api/v1/users/${uid}`, { method: "PATCH", json: { role: "member" } });
    expect(patched.status).toBe(200);

    expect(await events.ended).toContain("event: revoked");
    expect(await log.ended).toContain("event: revoked");
    expect((await call("/api/v1/session", s)).status).toBe(401);
    // The token lives on with the member's role: it no longer sees the project.
    expect((await call(`/api/v1/projects/${ids.project}`, { token })).status).toBe(404);
  }, 60_000);
});

describe("lowering a project role", () => {
  test("takes what the role gave at the next request; the reader's streams and session live on", async () => {
    const uid = await makeUser("lou", "member");
    const added = await call(`/api/v1/projects/${ids.project}/members`, {
      method: "POST",
      json: { user_id: uid, role: "admin" },
    });
    expect(added.status).toBe(201);
    const s = await session({ login: "lou", password: PASSWORD });
    const { token } = await tokenFor(s, ["admin"]);
    const log = await openSse(`/api/v1/jobs/${ids.job}/log/stream`, s);
    const ws = await openWs(token);

    for (const role of ["write", "read"]) {
      const lowered = await call(`/api/v1/projects/${ids.project}/members`, {
        method: "POST",
        json: { user_id: uid, role },
      });
      expect(lowered.status).toBe(200);
    }

    // Requests check the role live: a reader cannot cancel a job, with the session or the token.
    expect((await call(`/api/v1/jobs/${ids.job}/cancel`, { method: "POST", ...s })).status).toBe(403);
    expect((await call(`/api/v1/jobs/${ids.job}/cancel`, { method: "POST", token })).status).toBe(403);
    expect((await call(`/api/v1/projects/${ids.project}/members`, s)).status).toBe(200);
    // Reading logs needs only the read role: a full round of the guard leaves both streams open, and
    // removing the membership (below) then ends them, so they were still watched.
    const watched = server.deps.streams.size();
    await server.deps.streams.recheck();
    expect(server.deps.streams.size()).toBe(watched);
    const still = await Promise.race([
      log.ended.then(() => "ended"),
      ws.closed.then(() => "closed"),
      call("/api/v1/session", s).then(() => "open"),
    ]);
    expect(still).toBe("open");
    expect((await call("/api/v1/session", s)).status).toBe(200);
    const removed = await call(`/api/v1/projects/${ids.project}/members/${uid}`, { method: "DELETE" });
    expect(removed.status).toBe(204);
    expect(await log.ended).toContain("event: revoked");
    expect(await ws.closed).toBe(1008);
  }, 60_000);
});

describe("removing a membership", () => {
  test("ends the member's streams of that project; the next request is refused", async () => {
    const uid = await makeUser("mo", "member");
    const added = await call(`/api/v1/projects/${ids.project}/members`, {
      method: "POST",
      json: { user_id: uid, role: "read" },
    });
    expect(added.status).toBe(201);
    const s = await session({ login: "mo", password: PASSWORD });
    const { token } = await tokenFor(s, ["read"]);
    const log = await openSse(`/api/v1/jobs/${ids.job}/log/stream`, s);
    const events = await openSse("/api/v1/events", { token });
    const ws = await openWs(token);

    const removed = await call(`/api/v1/projects/${ids.project}/members/${uid}`, { method: "DELETE" });
    expect(removed.status).toBe(204);

    expect(await log.ended).toContain("event: revoked");
    expect(await events.ended).toContain("event: revoked");
    expect(await ws.closed).toBe(1008);
    expect((await call(`/api/v1/jobs/${ids.job}/log`, s)).status).toBe(404);
    // It takes one project, not the account: the session and the token still sign them in.
    expect((await call("/api/v1/session", s)).status).toBe(200);
    expect((await call("/api/v1/users/me", { token })).status).toBe(200);
  }, 60_000);
});
