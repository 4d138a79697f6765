// The builder fleet with real builder processes, real LXC through a real sshd: a builder killed -9
// mid-job loses the job, which completes on another builder; cancellation and timeouts end the
// container and say why; parallel slices get their own containers and indexes.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { cleanUp } from "./harness/clean-up.ts";
import { cairnContainers, destroyContainers, ensureBaseTemplate, requireLxc } from "./harness/lxc.ts";
import { startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const skip = await requireLxc({ sshd: true });

type Job = {
  id: string;
  name: string;
  status: string;
  attempt: number;
  builder_id: string | null;
  superseded_by: string | null;
  failure_reason: string | null;
  slice: { index: number; total: number };
};

describe.skipIf(skip)("builder fleet over LXC", () => {
  let sshd: TestSshd;
  let server: TestServer;
  let repo: TestRepo;
  let projectId: string;
  const builders: BuilderProcess[] = [];

  beforeAll(async () => {
    await ensureBaseTemplate();
    sshd = await startSshd();
    server = await startTestServer({ env: { CAIRN_LEASE_TTL_MS: "7000" } });
    repo = createRepo();
    repo.commit({ ".circleci/config.yml": "version: 2.1\njobs: {}\n" });
    const p = (await (
      await server.api("/api/v1/projects", { method: "POST", json: { name: "fleet", repo_url: repo.bare } })
    ).json()) as {
      id: string;
    };
    projectId = p.id;
  });

  // Each test starts the builders it needs; they stop after it, so none takes the next test's jobs.
  // What a failed test's job left goes too, so the next test starts on an empty lxcpath.
  afterEach(() => cleanUp([...builders.splice(0).map((b) => () => b.stop()), () => destroyContainers()]));
  const oneBuilder = async () =>
    builders.push(await startBuilder({ server: server.url, adminToken: server.token, name: "one", sshd }));

  afterAll(() =>
    cleanUp([
      ...builders.map((b) => () => b.stop()),
      () => destroyContainers(), // whatever a failed test left in this run's lxcpath
      () => server?.stop(),
      () => sshd?.stop(),
      () => repo?.remove(),
    ]),
  );

  async function pipeline(config: string): Promise<{ id: string; jobs: Job[] }> {
    repo.commit({ ".circleci/config.yml": config });
    const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; jobs: Job[] };
  }

  const jobsOf = async (pipelineId: string) =>
    ((await (await server.api(`/api/v1/pipelines/${pipelineId}`)).json()) as { status: string; jobs: Job[] })
      .jobs;
  const job = async (id: string) =>
    (await (await server.api(`/api/v1/jobs/${id}`)).json()) as Job & { steps: unknown[] };
  const log = async (id: string) => (await server.api(`/api/v1/jobs/${id}/log?format=text`)).text();

  const oneJob = (name: string, command: string, extra = "", timeout = "10m") =>
    `version: 2.1\njobs:\n  ${name}:\n    machine: true\n${extra}    steps:\n      - run:\n          command: ${JSON.stringify(command)}\n          no_output_timeout: ${timeout}\nworkflows:\n  w:\n    jobs: [${name}]\n`;

  test("kill -9 the builder mid-job: the job is lost, re-queued once, and completes on another builder", async () => {
    const a = await startBuilder({ server: server.url, adminToken: server.token, name: "a", sshd });
    builders.push(a);
    const p = await pipeline(oneJob("slow", "echo started; sleep 4; echo finished"));
    const first = p.jobs[0].id;
    await until("the job to start on builder a", async (note) => {
      note(`job ${first} ${(await job(first)).status}`);
      return (await log(first)).includes("started");
    });
    await a.kill9();
    const b = await startBuilder({ server: server.url, adminToken: server.token, name: "b", sshd });
    builders.push(b);
    const lost = await until("the job to be marked lost", async (note) => {
      const j = await job(first);
      note(`job ${first} ${j.status}`);
      return j.status === "lost" && j;
    });
    expect(lost.failure_reason).toMatch(/infrastructure failure.*re-queued as attempt 2/);
    expect(lost.builder_id).toBe(a.id);
    const retry = await until("the retry to finish", async (note) => {
      const j = await job(lost.superseded_by!);
      note(`job ${j.id} ${j.status}; builder b (tail): ${b.output().slice(-500)}`);
      return ["success", "failed"].includes(j.status) && j;
    });
    expect(retry.status).toBe("success");
    expect(retry.attempt).toBe(2);
    expect(retry.builder_id).toBe(b.id);
    expect(await log(retry.id)).toContain("finished");
    // Builder b left a's container alone when it started: as far as the server knew, a was not gone
    // (it could have been a's running job). b's own container is gone.
    const left = `cairn-${first.slice(0, 8)}-1`;
    expect(await cairnContainers()).toEqual([left]);
    // Once a is revoked, the next builder to start on this host reaps it.
    expect((await server.api(`/api/v1/builders/${a.id}/revoke`, { method: "POST" })).status).toBe(200);
    const c = await startBuilder({ server: server.url, adminToken: server.token, name: "c", sshd });
    builders.push(c);
    await until(
      "builder c to start polling",
      async (note) => {
        note(c.output().slice(-500));
        return c.output().includes("polling");
      },
      90_000,
    );
    expect(c.output()).toContain(`removed orphaned sandboxes ${left}`);
    expect(await cairnContainers()).toEqual([]);
    const pl = (await (await server.api(`/api/v1/pipelines/${p.id}`)).json()) as { status: string };
    expect(pl.status).toBe("success");
  }, 600_000); // a safety net only: each wait above fails first, saying what it saw

  test("cancellation ends the container and records why", async () => {
    await oneBuilder();
    const p = await pipeline(oneJob("cancel-me", "echo started; sleep 60"));
    const id = p.jobs[0].id;
    await until("the job to start", async (note) => {
      note(`job ${id} ${(await job(id)).status}`);
      return (await log(id)).includes("started");
    });
    const res = await server.api(`/api/v1/jobs/${id}/cancel`, { method: "POST" });
    expect(res.status).toBe(202);
    const box = `cairn-${id.slice(0, 8)}-1`;
    await until(
      `the canceled job's container ${box} to go`,
      async (note) => {
        const [boxes, j] = await Promise.all([cairnContainers(), job(id)]);
        note(`containers ${JSON.stringify(boxes)}; job ${j.status} with ${j.steps.length} steps`);
        return !boxes.includes(box) && j.steps.length > 0;
      },
      120_000,
    );
    const j = await job(id);
    expect(j.status).toBe("canceled");
    expect(await log(id)).toContain("canceled by a user");
  }, 420_000);

  test("no_output_timeout kills the step and says so", async () => {
    await oneBuilder();
    const p = await pipeline(oneJob("quiet", "echo started; sleep 30", "", "3s"));
    const id = p.jobs[0].id;
    const j = await until("the job to end", async (note) => {
      const x = await job(id);
      note(`job ${id} ${x.status}`);
      return ["success", "failed", "canceled"].includes(x.status) && x;
    });
    expect(j.status, await log(id)).toBe("failed");
    expect(j.failure_reason).toMatch(/no output for 3 s/);
    expect(await log(id)).toContain("no_output_timeout");
    expect(await cairnContainers()).toEqual([]);
  }, 300_000);

  test("parallelism 3 runs three containers with the right indexes", async () => {
    builders.push(
      await startBuilder({ server: server.url, adminToken: server.token, name: "wide", sshd, slots: 3 }),
    );
    const p = await pipeline(
      oneJob(
        "split",
        'echo "slice $CIRCLE_NODE_INDEX of $CIRCLE_NODE_TOTAL ($CAIRN_NODE_INDEX) on $(hostname)"; sleep 1',
        "    parallelism: 3\n",
      ),
    );
    expect(p.jobs.length).toBe(3);
    const done = await until("all slices to finish", async (note) => {
      const js = await jobsOf(p.id);
      note(js.map((j) => `slice ${j.slice.index} ${j.status}`).join(", "));
      return js.every((j) => j.status === "success") && js;
    });
    const lines = await Promise.all(done.map(async (j) => ({ slice: j.slice, text: await log(j.id) })));
    const hosts = new Set<string>();
    for (const { slice, text } of lines) {
      const m = /slice (\d) of (\d) \((\d)\) on (\S+)/.exec(text)!;
      expect(Number(m[1])).toBe(slice.index);
      expect(Number(m[2])).toBe(3);
      expect(Number(m[3])).toBe(slice.index);
      hosts.add(m[4]);
    }
    expect(lines.map((l) => l.slice.index).sort()).toEqual([0, 1, 2]);
    expect(hosts.size).toBe(3); // three containers
    expect(await cairnContainers()).toEqual([]);
  }, 300_000);
});
