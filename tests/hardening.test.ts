// Smaller findings of the outside review, over a real socket: WebSocket upgrades from other sites'
// pages are refused; an oversized config is named as such; a catastrophic branch filter runs in
// linear time and cannot block the loop, one the matcher cannot run is refused; a local repo_url's
// errors do not tell what exists.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { openDb } from "../server/db/client.ts";
import { projects } from "../server/db/schema.ts";
import { deliverGeneric } from "./support/forge.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const CONFIG =
  "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: echo hi\nworkflows:\n  main:\n    jobs: [build]\n";

let server: TestServer;
const ids: Record<string, string> = {};
let secret: string;
let mainSha: string;

async function call(path: string, init: { method?: string; json?: unknown } = {}) {
  const res = await server.api(path, { method: init.method ?? "GET", json: init.json });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

beforeAll(async () => {
  server = await startTestServer();
  const repo = createRepo();
  mainSha = repo.commit({ ".circleci/config.yml": CONFIG });
  const p = await call("/api/v1/projects", {
    method: "POST",
    json: { name: "hardened", repo_url: repo.bare },
  });
  expect(p.status).toBe(201);
  ids.project = p.json.id;
  secret = p.json.webhook_secret;
  const pl = await call(`/api/v1/projects/${ids.project}/pipelines`, {
    method: "POST",
    json: { branch: "main" },
  });
  expect(pl.status).toBe(201);
  ids.job = pl.json.jobs[0].id;
  // A 5 MB config on its own branch (more than the 4 MiB allowed).
  repo.commit({ ".circleci/config.yml": `${CONFIG}# ${"x".repeat(5 * 1024 * 1024)}\n` }, "huge", "huge");
}, 60_000);
afterAll(() => server.stop());

describe("the log WebSocket", () => {
  const connect = (origin?: string) =>
    new Promise<string>((resolve) => {
      const headers: Record<string, string> = { authorization: `Bearer ${server.token}` };
      if (origin) headers.origin = origin;
      const ws = new WebSocket(`${server.url.replace("http", "ws")}/api/v1/jobs/${ids.job}/log/ws`, {
        headers,
      } as unknown as string[]);
      ws.onopen = () => {
        ws.close();
        resolve("open");
      };
      ws.onerror = () => resolve("refused");
    });

  test("opens from the server's own origin, or without one (not a browser)", async () => {
    expect(await connect(server.url)).toBe("open");
    expect(await connect()).toBe("open");
  });

  test("is refused from another site's page, even with valid credentials", async () => {
    expect(await connect("https://evil.example")).toBe("refused");
    expect(await connect("null")).toBe("refused");
    const plain = await fetch(`${server.url}/api/v1/jobs/${ids.job}/log/ws`, {
      headers: {
        authorization: `Bearer ${server.token}`,
        origin: "https://evil.example",
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    });
    expect(plain.status).toBe(403);
    expect(((await plain.json()) as { error: { code: string } }).error.code).toBe("forbidden");
  });
});

describe("configs", () => {
  test("an oversized config is config_too_large, not config_missing", async () => {
    const res = await call(`/api/v1/projects/${ids.project}/pipelines`, {
      method: "POST",
      json: { branch: "huge" },
    });
    // Answered before the commit is read: the pipeline ends in `error`, saying why.
    expect(res.status).toBe(201);
    expect(res.json.status).toBe("error");
    expect(res.json.config_errors).toMatchObject([
      {
        file: ".circleci/config.yml",
        message: expect.stringMatching(/^config_too_large: .* at most 4194304$/),
      },
    ]);
  });
});

describe("branch filters", () => {
  test("a catastrophic regular expression is accepted, and a webhook on a near-miss answers at once", async () => {
    const res = await call(`/api/v1/projects/${ids.project}`, {
      method: "PATCH",
      json: { branch_filters: ["/(a+)+b/"] },
    });
    expect(res.status).toBe(200);
    // A backtracking engine would need ~2^200 steps to refuse this branch; the linear-time matcher
    // takes a few thousand (server/circleci/linear-regex.test.ts counts them).
    const branch = `${"a".repeat(200)}c`;
    const refused = await deliverGeneric(server.url, ids.project, secret, {
      ref: `refs/heads/${branch}`,
      after: mainSha,
    });
    expect(refused.status).toBe(202);
    expect(((await refused.json()) as { reason: string }).reason).toContain(
      "matches none of the project's branch filters",
    );
    expect((await call("/api/v1/health")).status).toBe(200);
  });

  test("a pattern the matcher does not run is refused with a 400 that says why", async () => {
    const res = await call(`/api/v1/projects/${ids.project}`, {
      method: "PATCH",
      json: { branch_filters: ["/(a*)\\1b/"] },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toContain("refused");
    expect(res.json.error.message).toContain("backreference");
  });

  test("one stored before the check matches nothing, and the webhook answers", async () => {
    const { db, close } = await openDb(`file:${join(server.dataDir, "cairn.db")}`);
    await db
      .update(projects)
      .set({ branchFilters: JSON.stringify(["/(a*)\\1b/"]) })
      .where(eq(projects.id, ids.project));
    close();
    const res = await deliverGeneric(server.url, ids.project, secret, {
      ref: "refs/heads/aab",
      after: mainSha,
    });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { reason: string }).reason).toContain(
      "matches none of the project's branch filters",
    );
  });
});

describe("a local repo_url", () => {
  test("says only that the repository cannot be read, whether the path exists or not", async () => {
    const messages: string[] = [];
    for (const [name, path] of [
      ["exists", "/etc"],
      ["missing", "/no/such/dir/anywhere"],
      ["file", "/etc/hostname"],
    ]) {
      const p = await call("/api/v1/projects", {
        method: "POST",
        json: { name: `local-${name}`, repo_url: path },
      });
      expect(p.status).toBe(201);
      const res = await call(`/api/v1/projects/${p.json.id}/pipelines`, {
        method: "POST",
        json: { branch: "main" },
      });
      expect(res.status).toBe(201);
      expect(res.json.status).toBe("error");
      messages.push(res.json.config_errors[0].message);
    }
    expect(messages).toEqual(Array(3).fill("repository_unavailable: cannot read the repository"));
  });
});
