// Cursor pagination over a real socket: `?cursor=&limit=` → `{items, next_cursor}` walks a list
// exactly once, in order, and refuses a cursor it did not give out.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;
let projectId: string;

beforeAll(async () => {
  server = await startTestServer();
  const repo = createRepo();
  repo.commit({
    ".circleci/config.yml":
      "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: echo hi\nworkflows:\n  main:\n    jobs: [build]\n",
  });
  for (const name of ["pg-c", "pg-a", "pg-b", "pg-d", "pg-e"]) {
    const res = await server.api("/api/v1/projects", { method: "POST", json: { name, repo_url: repo.bare } });
    expect(res.status).toBe(201);
    if (name === "pg-a") projectId = ((await res.json()) as { id: string }).id;
  }
  for (let i = 0; i < 5; i++) {
    const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(res.status).toBe(201);
  }
}, 60_000);
afterAll(() => server.stop());

async function walk<T>(path: string, limit: number, pick: (item: Record<string, unknown>) => T) {
  const seen: T[] = [];
  let cursor: string | null = "";
  let pages = 0;
  while (cursor !== null) {
    const sep = path.includes("?") ? "&" : "?";
    const res = await server.api(`${path}${sep}limit=${limit}&cursor=${cursor}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items: Record<string, unknown>[]; next_cursor: string | null };
    expect(body.items.length).toBeLessThanOrEqual(limit);
    seen.push(...body.items.map(pick));
    cursor = body.next_cursor;
    pages++;
  }
  return { seen, pages };
}

test("projects page by name", async () => {
  const { seen, pages } = await walk("/api/v1/projects", 2, (p) => p.name as string);
  expect(seen).toEqual(["pg-a", "pg-b", "pg-c", "pg-d", "pg-e"]);
  expect(pages).toBe(3);
});

test("pipelines page newest first", async () => {
  const { seen } = await walk(`/api/v1/projects/${projectId}/pipelines`, 2, (p) => p.number as number);
  expect(seen).toEqual([5, 4, 3, 2, 1]);
});

test("builders, users and tokens answer pages too", async () => {
  for (const path of ["/api/v1/builders", "/api/v1/users", "/api/v1/tokens"]) {
    const body = (await (await server.api(`${path}?limit=1`)).json()) as {
      items: unknown[];
      next_cursor: unknown;
    };
    expect(Array.isArray(body.items)).toBe(true);
    expect("next_cursor" in body).toBe(true);
  }
});

test("a bad limit or a foreign cursor is a 400 with the error shape", async () => {
  for (const q of ["limit=0", "limit=1000", "limit=x", "cursor=!!", `cursor=${btoa("not-a-number")}`]) {
    const res = await server.api(`/api/v1/projects/${projectId}/pipelines?${q}`);
    expect(`${q}: ${res.status}`).toBe(`${q}: 400`);
    const body = (await res.json()) as { error: { code: string } };
    expect(body.error.code).toBe("invalid_query");
  }
});
