// GitHub OAuth sign-in against a real local HTTP server standing in for GitHub (authorize, token
// exchange, /user), over real sockets: state checked, code exchanged with the client secret, the
// linked user signed in with a session cookie; unlinked logins and forged states refused.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;
let fake: ReturnType<typeof Bun.serve>;
const exchanges: Record<string, unknown>[] = [];
/** code → the GitHub login it signs in as. */
const codes = new Map<string, string>([
  ["code-octo", "Octo-Cat"],
  ["code-stranger", "stranger"],
]);

beforeAll(async () => {
  fake = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/login/oauth/access_token" && req.method === "POST") {
        const body = (await req.json()) as Record<string, string>;
        exchanges.push(body);
        const login = codes.get(body.code);
        if (body.client_secret !== "shh-secret" || !login)
          return Response.json({ error: "bad_verification_code" });
        return Response.json({ access_token: `gho_${login}`, token_type: "bearer", scope: "read:user" });
      }
      if (url.pathname === "/api/v3/user") {
        const token = req.headers.get("authorization")?.replace(/^Bearer /, "") ?? "";
        if (!token.startsWith("gho_")) return Response.json({ message: "Bad credentials" }, { status: 401 });
        return Response.json({ login: token.slice(4), id: 1 });
      }
      return new Response("not found", { status: 404 });
    },
  });
  const env = {
    CAIRN_GITHUB_CLIENT_ID: "cairn-client",
    CAIRN_GITHUB_CLIENT_SECRET: "shh-secret",
    CAIRN_GITHUB_URL: `http://127.0.0.1:${fake.port}`,
  };
  server = await startTestServer({ env });
  const linked = await server.api("/api/v1/users", {
    method: "POST",
    json: { login: "octo", role: "member", github_login: "octo-cat" },
  });
  expect(linked.status).toBe(201);
}, 30_000);
afterAll(async () => {
  await server.stop();
  fake.stop(true);
});

/** Starts sign-in like a browser: the redirect to GitHub's authorize page and the state cookie. */
async function start() {
  const res = await fetch(`${server.url}/api/v1/auth/github`, { redirect: "manual" });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get("location")!);
  const cookie = res.headers.get("set-cookie")!;
  return { location, cookie, stateCookie: cookie.split(";")[0] };
}

const callback = (query: string, cookie?: string) =>
  fetch(`${server.url}/api/v1/auth/github/callback?${query}`, {
    redirect: "manual",
    headers: cookie ? { cookie } : {},
  });

describe("GitHub sign-in", () => {
  test("the public sign-in methods name GitHub's URL, never the client secret", async () => {
    const res = await fetch(`${server.url}/api/v1/auth/methods`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      password: true,
      token: true,
      // No user of this server has a password: the token form comes first.
      token_first: true,
      github: { url: `http://127.0.0.1:${fake.port}` },
    });
    expect(text).not.toContain("shh-secret");
  });

  test("redirects to the configured GitHub with client id, state and callback", async () => {
    const { location, cookie } = await start();
    expect(location.origin).toBe(`http://127.0.0.1:${fake.port}`);
    expect(location.pathname).toBe("/login/oauth/authorize");
    expect(location.searchParams.get("client_id")).toBe("cairn-client");
    expect(location.searchParams.get("redirect_uri")).toBe(`${server.url}/api/v1/auth/github/callback`);
    expect(location.searchParams.get("state")!.length).toBeGreaterThan(20);
    expect(location.toString()).not.toContain("shh-secret");
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain(`cairn_oauth_state=${location.searchParams.get("state")}`);
  });

  test("the round trip signs in the linked user with a session cookie", async () => {
    const { location, stateCookie } = await start();
    const state = location.searchParams.get("state")!;
    const res = await callback(`code=code-octo&state=${state}`, stateCookie);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/");
    const session = res.headers
      .getSetCookie()
      .find((c) => c.startsWith("cairn_session="))!
      .split(";")[0];
    const me = await fetch(`${server.url}/api/v1/session`, { headers: { cookie: session } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user: { login: string } }).user.login).toBe("octo");
    const last = exchanges[exchanges.length - 1];
    expect(last).toMatchObject({ client_id: "cairn-client", client_secret: "shh-secret", code: "code-octo" });
  });

  test("a state that does not match the browser's cookie is refused", async () => {
    const { stateCookie } = await start();
    const forged = await callback("code=code-octo&state=someone-elses-state-value", stateCookie);
    expect(forged.status).toBe(403);
    const noCookie = await callback("code=code-octo&state=x");
    expect(noCookie.status).toBe(403);
  });

  test("a GitHub login no Cairn user is linked to is refused (403), a bad code is 401", async () => {
    let { location, stateCookie } = await start();
    const stranger = await callback(
      `code=code-stranger&state=${location.searchParams.get("state")}`,
      stateCookie,
    );
    expect(stranger.status).toBe(403);
    expect(((await stranger.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    ({ location, stateCookie } = await start());
    const bad = await callback(`code=nope&state=${location.searchParams.get("state")}`, stateCookie);
    expect(bad.status).toBe(401);
    expect(await bad.text()).not.toContain("shh-secret");
  });

  test("a browser is sent back to the sign-in page with the reason's code, never free text", async () => {
    const html = (query: string, cookie?: string) =>
      fetch(`${server.url}/api/v1/auth/github/callback?${query}`, {
        redirect: "manual",
        headers: { accept: "text/html,application/xhtml+xml", ...(cookie ? { cookie } : {}) },
      });
    let { location, stateCookie } = await start();
    const stranger = await html(
      `code=code-stranger&state=${location.searchParams.get("state")}`,
      stateCookie,
    );
    expect(stranger.status).toBe(302);
    expect(stranger.headers.get("location")).toBe("/login?github_error=not_linked");
    ({ location, stateCookie } = await start());
    const bad = await html(`code=nope&state=${location.searchParams.get("state")}`, stateCookie);
    expect(bad.headers.get("location")).toBe("/login?github_error=code");
    expect((await html("code=code-octo&state=forged")).headers.get("location")).toBe(
      "/login?github_error=state",
    );
    expect((await html("error=access_denied")).headers.get("location")).toBe("/login?github_error=denied");
    expect((await html("state=only")).headers.get("location")).toBe("/login?github_error=code");
    const api = await fetch(`${server.url}/api/v1/auth/github/callback?state=only`, { redirect: "manual" });
    expect(api.status).toBe(400);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe("invalid_query");
  });

  test("sign-ins and refusals are in the audit log", async () => {
    // This test's own: a sign-in, a login no user is linked to, a bad code.
    for (const [code, status] of [
      ["code-octo", 302],
      ["code-stranger", 403],
      ["nope", 401],
    ] as const) {
      const { location, stateCookie } = await start();
      const res = await callback(`code=${code}&state=${location.searchParams.get("state")}`, stateCookie);
      expect(res.status).toBe(status);
    }
    const audit = (await (await server.api("/api/v1/audit?limit=200")).json()) as {
      items: { action: string; details: { method?: string } }[];
    };
    const github = audit.items.filter((e) => e.details.method === "github").map((e) => e.action);
    expect(github).toContain("session.signed_in");
    expect(github).toContain("session.sign_in_failed");
    expect(JSON.stringify(audit)).not.toContain("shh-secret");
  });
});
