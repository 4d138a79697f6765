// Re-running a workflow, all of it or only what failed, through the API and a stand-in builder.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { acquireJob, registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const CONFIG = `version: 2.1
jobs:
  lint: { machine: true, steps: [{ run: lint }] }
  build: { machine: true, steps: [{ run: make }] }
  deploy: { machine: true, steps: [{ run: deploy }] }
workflows:
  main:
    jobs: [lint, build, { deploy: { requires: [build] } }]
`;

type Job = { id: string; name: string; status: string; attempt: number; superseded_by: string | null };
// Each test has a server of its own: jobs one test leaves queued would go to the next one's builder.
let server: TestServer;
let projectId: string;

beforeEach(async () => {
  server = await startTestServer();
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG });
  projectId = (
    (await (
      await server.api("/api/v1/projects", { method: "POST", json: { name: "rerun", repo_url: repo.bare } })
    ).json()) as { id: string }
  ).id;
});
afterEach(() => server.stop());

test("re-run failed runs only what did not succeed, then the pipeline succeeds", async () => {
  const created = (await (
    await server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } })
  ).json()) as {
    id: string;
    workflows: { id: string }[];
  };
  const builder = await registerSimBuilder(server.url, server.token);
  const outcome: Record<string, "success" | "failed"> = { lint: "success", build: "failed" };
  for (let i = 0; i < 2; i++) {
    const job = await acquireJob(builder);
    await builder.finish(job.job.id, { status: outcome[job.job.name], unsandboxed: true, log_bytes: 0 });
  }
  let p = (await (await server.api(`/api/v1/pipelines/${created.id}`)).json()) as {
    status: string;
    jobs: Job[];
  };
  expect(p.status).toBe("failed");
  expect(p.jobs.find((j) => j.name === "deploy")?.status).toBe("not_run");

  const wf = created.workflows[0].id;
  const res = await server.api(`/api/v1/workflows/${wf}/rerun`, {
    method: "POST",
    json: { from_failed: true },
  });
  expect(res.status).toBe(202);
  expect(((await res.json()) as { jobs: string[] }).jobs.length).toBe(2); // build and deploy, not lint
  expect((await server.api(`/api/v1/workflows/${wf}/rerun`, { method: "POST", json: {} })).status).toBe(409);

  const ran: string[] = [];
  for (let i = 0; i < 2; i++) {
    const job = await acquireJob(builder);
    ran.push(job.job.name);
    expect(job.job.attempt).toBe(2);
    await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
  }
  expect(ran).toEqual(["build", "deploy"]);
  p = (await (await server.api(`/api/v1/pipelines/${created.id}`)).json()) as { status: string; jobs: Job[] };
  expect(p.status).toBe("success");
  const history = p.jobs.filter((j) => j.name === "build");
  expect(history.map((j) => [j.attempt, j.status, Boolean(j.superseded_by)])).toEqual([
    [1, "failed", true],
    [2, "success", false],
  ]);
});

test("bad input to re-run is a 400, an unknown workflow a 404", async () => {
  expect((await server.api("/api/v1/workflows/nope/rerun", { method: "POST", json: {} })).status).toBe(404);
});

test("a builder that reports `lost` (its fleet host failed) gets the job re-queued once, elsewhere; then it stays lost", async () => {
  const created = (await (
    await server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } })
  ).json()) as { id: string };
  const first = await registerSimBuilder(server.url, server.token, "host-failed");
  const second = await registerSimBuilder(server.url, server.token, "other");
  const host = "lost the connection to the fleet host (b: connection reset)";
  const lost = await acquireJob(first);
  await first.finish(lost.job.id, { status: "lost", failure_reason: host, unsandboxed: true, log_bytes: 0 });
  // The retry goes to another live builder; the workflow's other jobs run meanwhile.
  let retry = await acquireJob(second);
  while (retry.job.name !== lost.job.name) {
    await second.finish(retry.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
    retry = await acquireJob(second);
  }
  expect(retry.job.attempt).toBe(2);
  await second.finish(retry.job.id, {
    status: "lost",
    failure_reason: host,
    unsandboxed: true,
    log_bytes: 0,
  });
  const get = async (id: string) =>
    (await (await server.api(`/api/v1/jobs/${id}`)).json()) as Job & { failure_reason: string | null };
  const [a1, a2] = [await get(lost.job.id), await get(retry.job.id)];
  expect([a1.attempt, a1.status, a1.superseded_by]).toEqual([1, "lost", retry.job.id]);
  expect([a2.attempt, a2.status, a2.superseded_by]).toEqual([2, "lost", null]);
  expect(a1.failure_reason).toBe(`infrastructure failure: ${host}; re-queued as attempt 2`);
  expect(a2.failure_reason).toBe(`infrastructure failure: ${host}`);
  const p = (await (await server.api(`/api/v1/pipelines/${created.id}`)).json()) as { status: string };
  expect(p.status).not.toBe("success");
  // A finish for a job the builder no longer holds is refused, whatever its status.
  await expect(
    second.finish(retry.job.id, { status: "lost", unsandboxed: true, log_bytes: 0 }),
  ).rejects.toThrow();
});
