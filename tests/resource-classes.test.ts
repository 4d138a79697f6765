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

test("a job of an operator's own class goes only to a builder that names it", async () => {
  const repo = createRepo();
  repo.commit({
    ".circleci/config.yml":
      "version: 2.1\njobs:\n  disk: { machine: true, resource_class: acme/big-disk, steps: [{ run: make }] }\nworkflows:\n  w:\n    jobs: [disk]\n",
  });
  const p = (await (
    await server.api("/api/v1/projects", { method: "POST", json: { name: "custom", repo_url: repo.bare } })
  ).json()) as { id: string };
  const created = (await (
    await server.api(`/api/v1/projects/${p.id}/pipelines`, { method: "POST", json: { branch: "main" } })
  ).json()) as { id: string };
  const pipeline = (await (await server.api(`/api/v1/pipelines/${created.id}`)).json()) as {
    jobs: { name: string; status: string }[];
  };
  expect(pipeline.jobs.map((j) => [j.name, j.status])).toEqual([["disk", "queued"]]);
  const builder = await registerSimBuilder(server.url, server.token, "custom");
  // With CircleCI's classes only, the whole long poll ends empty: the job waits for a builder that has it.
  const refused = await builder.acquire({
    free_slots: 1,
    driver: "lxc",
    resource_classes: ["small", "medium", "large"],
  });
  expect(refused).toBeNull();
  const granted = await builder.acquire({
    free_slots: 1,
    driver: "lxc",
    resource_classes: ["small", "medium", "acme/big-disk"],
  });
  expect([granted?.job.name, granted?.resource_class]).toEqual(["disk", "acme/big-disk"]);
  await builder.finish(granted!.job.id, { status: "success", unsandboxed: false, log_bytes: 0 });
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
