// The server grants a builder only jobs whose resource class fits on it now.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const CONFIG = `version: 2.1
jobs:
  big: { machine: true, resource_class: large, steps: [{ run: make }] }
  tiny: { machine: true, resource_class: small, steps: [{ run: make }] }
  plain: { machine: true, steps: [{ run: make }] }
workflows:
  main:
    jobs: [big, tiny, plain]
`;

// Each test has a server of its own: jobs one test leaves queued would go to the next one's builder.
let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(() => server.stop());

test("only jobs of the classes that fit are granted, and the payload names the class", async () => {
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG });
  const p = (await (
    await server.api("/api/v1/projects", { method: "POST", json: { name: "classes", repo_url: repo.bare } })
  ).json()) as { id: string };
  await server.api(`/api/v1/projects/${p.id}/pipelines`, { method: "POST", json: { branch: "main" } });
  const builder = await registerSimBuilder(server.url, server.token);
  const ask = (classes: string[]) =>
    builder.acquire({ free_slots: 1, driver: "process", resource_classes: classes });
  const first = await ask(["small"]);
  expect([first?.job.name, first?.resource_class]).toEqual(["tiny", "small"]);
  const second = await ask(["small", "medium"]); // `plain` has no class: medium
  expect([second?.job.name, second?.resource_class]).toEqual(["plain", "medium"]);
  const third = await ask(["large"]);
  expect([third?.job.name, third?.resource_class]).toEqual(["big", "large"]);
  for (const j of [first, second, third])
    await builder.finish(j!.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
});

test("a project's concurrency limit holds back its jobs beyond the limit", async () => {
  const repo = createRepo();
  repo.commit({
    ".circleci/config.yml":
      "version: 2.1\njobs:\n  a: { machine: true, steps: [{ run: a }] }\n  b: { machine: true, steps: [{ run: b }] }\nworkflows:\n  w:\n    jobs: [a, b]\n",
  });
  const p = (await (
    await server.api("/api/v1/projects", { method: "POST", json: { name: "limited", repo_url: repo.bare } })
  ).json()) as { id: string };
  const bad = await server.api(`/api/v1/projects/${p.id}`, {
    method: "PATCH",
    json: { max_concurrent_jobs: 0 },
  });
  expect(bad.status).toBe(400);
  const set = await server.api(`/api/v1/projects/${p.id}`, {
    method: "PATCH",
    json: { max_concurrent_jobs: 1 },
  });
  expect(((await set.json()) as { max_concurrent_jobs: number }).max_concurrent_jobs).toBe(1);
  await server.api(`/api/v1/projects/${p.id}/pipelines`, { method: "POST", json: { branch: "main" } });
  const builder = await registerSimBuilder(server.url, server.token, "limited");
  const first = await builder.acquire({ free_slots: 1, driver: "process" });
  expect(["a", "b"]).toContain(first!.job.name);
  // The other job waits while the first runs (the long poll ends empty), then goes.
  const abort = new AbortController();
  const held = await Promise.race([
    builder.acquire({ free_slots: 1, driver: "process" }, abort.signal).catch(() => null),
    Bun.sleep(1500).then(() => "waiting"),
  ]);
  abort.abort();
  expect(held).toBe("waiting");
  await builder.finish(first!.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
  const second = await builder.acquire({ free_slots: 1, driver: "process" });
  expect(second?.job.name).toBe(first!.job.name === "a" ? "b" : "a");
});
