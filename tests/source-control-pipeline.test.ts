// push → pipeline → jobs in dependency order, with workflow filters and an approval gate, run by a
// real builder daemon (process driver): the approval job is never leased; it waits until approved.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { deliver, pushPayload } from "./support/forge.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo "building $CIRCLE_BRANCH"
  test:
    machine: true
    steps:
      - run: echo testing
  deploy:
    machine: true
    steps:
      - run: echo "deploying $CIRCLE_SHA1"
workflows:
  ship:
    jobs:
      - build
      - test:
          requires: [build]
      - hold:
          type: approval
          requires: [test]
          filters:
            branches:
              only: main
      - deploy:
          requires: [hold]
          filters:
            branches:
              only: main
`;

interface Job {
  id: string;
  name: string;
  status: string;
  approval?: string;
  started_at: string | null;
  finished_at: string | null;
  builder_id: string | null;
}

describe("push → pipeline → jobs, with an approval gate", () => {
  let server: TestServer;
  let builder: BuilderProcess | undefined;
  let projectId: string;
  let secret: string;
  let mainSha: string;
  let featureSha: string;

  const job = async (id: string) => (await (await server.api(`/api/v1/jobs/${id}`)).json()) as Job;
  const pipeline = async (id: string) =>
    (await (await server.api(`/api/v1/pipelines/${id}`)).json()) as { status: string; jobs: Job[] };
  const until = async (what: string, pred: () => Promise<boolean>, ms = 60_000) => {
    const deadline = Date.now() + ms;
    while (!(await pred())) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; builder:\n${builder?.output()}`);
      await Bun.sleep(100);
    }
  };
  const push = async (branch: string, sha: string) => {
    const res = await deliver(server.url, projectId, secret, {
      event: "push",
      body: JSON.stringify(pushPayload(branch, sha)),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { pipeline: { id: string } }).pipeline.id;
  };

  beforeAll(async () => {
    server = await startTestServer();
    const repo = createRepo();
    mainSha = repo.commit({ ".circleci/config.yml": CONFIG }, "config");
    featureSha = repo.commit({ "f.txt": "1\n" }, "feature", "feature");
    const res = await server.api("/api/v1/projects", {
      method: "POST",
      json: { name: "gated", repo_url: repo.bare },
    });
    ({ id: projectId, webhook_secret: secret } = (await res.json()) as {
      id: string;
      webhook_secret: string;
    });
  }, 30_000);
  // A test's builder stops after it (each test that runs jobs starts its own).
  afterEach(async () => {
    await builder?.stop();
    builder = undefined;
  });
  afterAll(async () => {
    await server.stop();
  });

  test("an approval job cannot be approved before what it requires succeeded; other jobs cannot be approved", async () => {
    const id = await push("main", mainSha);
    const p = await pipeline(id);
    const byName = Object.fromEntries(p.jobs.map((j) => [j.name, j]));
    const early = await server.api(`/api/v1/jobs/${byName.hold.id}/approve`, { method: "POST" });
    expect(early.status).toBe(409);
    expect(((await early.json()) as { error: { code: string } }).error.code).toBe("approval_not_ready");
    const wrong = await server.api(`/api/v1/jobs/${byName.build.id}/approve`, { method: "POST" });
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe("not_pending_approval");
    expect((await server.api("/api/v1/jobs/nope/approve", { method: "POST" })).status).toBe(404);
  });

  test("build → test run in order, hold waits (never leased), approval releases deploy", async () => {
    const id = await push("main", mainSha);
    builder = await startBuilder({ server: server.url, adminToken: server.token, name: "gate", slots: 2 });
    const names = async () =>
      Object.fromEntries(
        await Promise.all((await pipeline(id)).jobs.map(async (j) => [j.name, await job(j.id)])),
      );
    await until("build and test to succeed", async () => {
      const j = await names();
      return j.build.status === "success" && j.test.status === "success";
    });
    // Two slots free, and still nothing takes the gate or what is behind it.
    await Bun.sleep(2_000);
    let j = await names();
    expect(j.hold).toMatchObject({
      status: "queued",
      approval: "pending",
      builder_id: null,
      started_at: null,
    });
    expect(j.deploy.status).toBe("queued");
    expect((await pipeline(id)).status).toBe("running");

    const approved = await server.api(`/api/v1/jobs/${j.hold.id}/approve`, { method: "POST" });
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ status: "success", approval: "approved" });
    expect((await server.api(`/api/v1/jobs/${j.hold.id}/approve`, { method: "POST" })).status).toBe(409);
    await until("the pipeline to finish", async () => (await pipeline(id)).status !== "running");
    j = await names();
    expect((await pipeline(id)).status).toBe("success");
    expect(j.hold.approval).toBe("approved");
    const t = (s: string | null) => Date.parse(s ?? "");
    expect(t(j.build.finished_at)).toBeLessThanOrEqual(t(j.test.started_at));
    expect(t(j.test.finished_at)).toBeLessThanOrEqual(t(j.hold.finished_at));
    expect(t(j.hold.finished_at)).toBeLessThanOrEqual(t(j.deploy.started_at));
    const log = await (await server.api(`/api/v1/jobs/${j.deploy.id}/log?format=text`)).text();
    expect(log).toContain(`deploying ${mainSha}`);
    const audit = await (await server.api("/api/v1/audit?action=job.approved")).text();
    expect(audit).toContain(j.hold.id);
  }, 90_000);

  test("a push to another branch runs only what its filters allow", async () => {
    builder = await startBuilder({ server: server.url, adminToken: server.token, name: "feature" });
    const id = await push("feature", featureSha);
    expect((await pipeline(id)).jobs.map((j) => j.name)).toEqual(["build", "test"]);
    await until(
      "the feature pipeline to finish",
      async () => !["queued", "running"].includes((await pipeline(id)).status),
    );
    expect((await pipeline(id)).status).toBe("success");
    const build = (await pipeline(id)).jobs[0];
    expect(await (await server.api(`/api/v1/jobs/${build.id}/log?format=text`)).text()).toContain(
      "building feature",
    );
  }, 60_000);
});
