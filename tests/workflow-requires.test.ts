// CircleCI's `requires` with statuses and `type: no-op` jobs, through the API and a stand-in builder.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { acquireJob, registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const CONFIG = `version: 2.1
jobs:
  build: { machine: true, steps: [{ run: make }] }
  report: { machine: true, steps: [{ run: report }] }
  gate: { type: no-op }
  deploy: { machine: true, steps: [{ run: deploy }] }
  cleanup: { machine: true, steps: [{ run: cleanup }] }
workflows:
  main:
    jobs:
      - build
      - report: { requires: [{ build: [success, failed] }] }
      - gate: { requires: [build] }
      - deploy: { requires: [gate] }
      - cleanup: { requires: [{ deploy: not_run }] }
`;

type Job = { id: string; name: string; status: string };
let server: TestServer;
let projectId: string;

beforeAll(async () => {
  server = await startTestServer();
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG });
  projectId = (
    (await (
      await server.api("/api/v1/projects", {
        method: "POST",
        json: { name: "requires", repo_url: repo.bare },
      })
    ).json()) as { id: string }
  ).id;
});
afterAll(() => server.stop());

const pipeline = async (id: string) =>
  (await (await server.api(`/api/v1/pipelines/${id}`)).json()) as { status: string; jobs: Job[] };

test("a job requiring [success, failed] runs after a failure; a no-op gate is never leased", async () => {
  const created = (await (
    await server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } })
  ).json()) as { id: string };
  const builder = await registerSimBuilder(server.url, server.token);

  const build = await acquireJob(builder);
  expect(build.job.name).toBe("build");
  await builder.finish(build.job.id, { status: "failed", unsandboxed: true, log_bytes: 0 });

  // build failed: report (accepts failed) runs, the gate and deploy do not, cleanup (accepts not_run) does.
  const ran: string[] = [];
  for (let i = 0; i < 2; i++) {
    const job = await acquireJob(builder);
    ran.push(job.job.name);
    await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
  }
  expect(ran.sort()).toEqual(["cleanup", "report"]);
  const p = await pipeline(created.id);
  const status = Object.fromEntries(p.jobs.map((j) => [j.name, j.status]));
  expect(status).toEqual({
    build: "failed",
    report: "success",
    gate: "not_run",
    deploy: "not_run",
    cleanup: "success",
  });
  expect(p.status).toBe("failed");
});

test("a no-op job succeeds by itself once its requirements are met, and its dependents run", async () => {
  const created = (await (
    await server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } })
  ).json()) as { id: string };
  const builder = await registerSimBuilder(server.url, server.token);
  const ran: string[] = [];
  for (let i = 0; i < 3; i++) {
    const job = await acquireJob(builder);
    ran.push(job.job.name);
    await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
  }
  expect(ran).toContain("deploy");
  expect(ran).not.toContain("gate");
  const p = await pipeline(created.id);
  const status = Object.fromEntries(p.jobs.map((j) => [j.name, j.status]));
  expect(status).toMatchObject({ build: "success", report: "success", gate: "success", deploy: "success" });
  // cleanup accepts only not_run from deploy, which succeeded: it does not run.
  expect(status.cleanup).toBe("not_run");
});

test("jobs Cairn cannot run (macOS, Windows, setup_remote_docker) end not_run with the reason; the rest run", async () => {
  const repo = createRepo();
  repo.commit({
    ".circleci/config.yml": `version: 2.1
jobs:
  linux: { machine: true, steps: [{ run: make }] }
  mac: { macos: { xcode: "15.0.0" }, steps: [{ run: xcodebuild }] }
  win: { machine: { image: "windows-server-2022-gui:current" }, steps: [{ run: build.ps1 }] }
  images: { machine: true, steps: [setup_remote_docker, { run: docker build . }] }
  after-mac: { machine: true, steps: [{ run: notarize }] }
  either: { machine: true, steps: [{ run: report }] }
workflows:
  main:
    jobs:
      - linux
      - mac
      - win
      - images
      - after-mac: { requires: [mac] }
      - either: { requires: [{ mac: [success, not_run] }] }
`,
  });
  const project = (await (
    await server.api("/api/v1/projects", { method: "POST", json: { name: "platforms", repo_url: repo.bare } })
  ).json()) as { id: string };
  const res = await server.api(`/api/v1/projects/${project.id}/pipelines`, {
    method: "POST",
    json: { branch: "main" },
  });
  expect(res.status).toBe(201);
  const created = (await res.json()) as { id: string };
  const builder = await registerSimBuilder(server.url, server.token);
  const ran: string[] = [];
  for (let i = 0; i < 2; i++) {
    const job = await acquireJob(builder);
    ran.push(job.job.name);
    await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
  }
  expect(ran.sort()).toEqual(["either", "linux"]);
  const p = (await (await server.api(`/api/v1/pipelines/${created.id}`)).json()) as { jobs: Job[] };
  const byName: Record<string, [string, string | null]> = {};
  for (const j of p.jobs) {
    const job = (await (await server.api(`/api/v1/jobs/${j.id}`)).json()) as {
      status: string;
      failure_reason: string | null;
    };
    byName[j.name] = [job.status, job.failure_reason];
  }
  expect(byName).toEqual({
    linux: ["success", null],
    mac: ["not_run", "not run: macOS executor: no builder here runs macOS"],
    win: ["not_run", "not run: Windows executor: no builder here runs Windows"],
    images: [
      "not_run",
      "not run: step `setup_remote_docker`: Cairn jobs run in LXC containers with no remote Docker engine to attach to",
    ],
    "after-mac": ["not_run", "not run: required job mac did not run"],
    either: ["success", null],
  });
});
