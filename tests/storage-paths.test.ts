// Storage steps whose paths match nothing, as CircleCI reports them: store_artifacts and save_cache
// warn and go on; persist_to_workspace fails the step (and the job), since the jobs after it would
// miss what it should have handed on. A real server and a real builder process (process driver,
// sandboxes under a TMPDIR of its own so it reaps nobody else's).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { json, startTestServer, type TestServer } from "./support/server.ts";

setDefaultTimeout(120_000);

const CONFIG = `version: 2.1
jobs:
  make:
    machine: true
    steps:
      - checkout
      - run: mkdir -p out && echo built > out/a.txt
      - store_artifacts:
          path: missing-dir
      - save_cache:
          key: partial-v1
          paths: [out, ~/nothing-here]
      - save_cache:
          key: empty-v1
          paths: [~/none-at-all]
      - persist_to_workspace:
          root: .
          paths: [out, "not-there/*.txt"]
      - run: echo should-not-run
workflows:
  main:
    jobs: [make]
`;

interface Job {
  id: string;
  status: string;
  steps: { name: string; status: string }[];
}

let server: TestServer;
let builder: BuilderProcess;
let projectId: string;
const privateTmp = mkdtempSync(join(tmpdir(), "cairn-storage-paths-"));

beforeAll(async () => {
  server = await startTestServer();
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG }, "config");
  projectId = (
    await json<{ id: string }>(
      server.api("/api/v1/projects", { method: "POST", json: { name: "paths", repo_url: repo.bare } }),
    )
  ).id;
  builder = await startBuilder({
    server: server.url,
    adminToken: server.token,
    name: "paths",
    env: { TMPDIR: privateTmp },
  });
});
afterAll(async () => {
  await builder?.stop();
  await server?.stop();
  rmSync(privateTmp, { recursive: true, force: true });
});

test("missing paths: warnings for artifacts and caches, an error for the workspace", async () => {
  const p = await json<{ jobs: { id: string }[] }>(
    server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } }),
  );
  const id = p.jobs[0].id;
  const job = await until("the job to finish", async () => {
    const j = await json<Job>(server.api(`/api/v1/jobs/${id}`));
    return ["success", "failed", "canceled", "lost"].includes(j.status) && j;
  });
  const log = await (await server.api(`/api/v1/jobs/${id}/log?format=text`)).text();
  expect(job.status).toBe("failed");
  const status = (name: string) => job.steps.filter((s) => s.name.startsWith(name)).map((s) => s.status);
  expect(status("store_artifacts")).toEqual(["success"]);
  expect(status("save_cache")).toEqual(["success", "success"]);
  expect(status("persist_to_workspace")).toEqual(["failed"]);
  expect(log).toContain("Warning: store_artifacts: missing-dir matched no files; no artifacts stored.");
  expect(log).toContain(
    "Warning: save_cache: ~/nothing-here matched no files; left out of cache partial-v1.",
  );
  expect(log).toContain("Saved cache partial-v1");
  expect(log).toContain("Warning: save_cache: none of the paths exist; cache empty-v1 not saved.");
  expect(log).toContain('persist_to_workspace: "not-there/*.txt" matched no files under .');
  expect(log).not.toContain("should-not-run");

  expect(log).not.toContain("Saved cache empty-v1");
});
