// The walking skeleton end to end, all real: a bare git repo, sshd on 127.0.0.1 started here, the
// builder daemon in its own process driving LXC through that sshd, and an SSE client.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanUp } from "./harness/clean-up.ts";
import { cairnContainers, destroyContainers, ensureBaseTemplate, requireLxc } from "./harness/lxc.ts";
import { startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { startTestServer, type TestServer } from "./support/server.ts";
import { readSse } from "./support/sse.ts";

const skip = await requireLxc({ sshd: true });
// Each wait is a safety net for a loaded machine (the jobs here take seconds), not a speed claim.
const WAIT_MS = 180_000;

const CONFIG = `version: 2.1
jobs:
  live:
    docker:
      - image: cimg/base:stable
    steps:
      - checkout
      - run:
          name: Count slowly
          command: |
            for i in 1 2 3; do echo "tick $i"; sleep 1; done
            printf '\\033[32mgreen\\033[0m done\\n'
      - run: cat greeting.txt
  broken:
    machine: true
    steps:
      - run: echo about to fail
      - run:
          name: Fail
          command: exit 3
      - run: echo never printed
workflows:
  main:
    jobs: [live, broken]
`;

type Job = {
  status: string;
  unsandboxed: boolean | null;
  steps: { name: string; status: string; exit_code: number | null }[];
};

describe.skipIf(skip)("walking skeleton: commit → LXC over SSH → live log", () => {
  let sshd: TestSshd;
  let server: TestServer;
  let builder: BuilderProcess | undefined;
  let repo: TestRepo | undefined;

  beforeAll(async () => {
    await ensureBaseTemplate();
    sshd = await startSshd();
    server = await startTestServer({ env: { CAIRN_TEMPLATES: '{"cimg/*":"cairn-base"}' } });
  });

  afterAll(() =>
    cleanUp([
      () => builder?.stop(),
      () => destroyContainers(), // whatever a failed test left in this run's lxcpath
      () => server?.stop(),
      () => sshd?.stop(),
      () => repo?.remove(),
    ]),
  );

  test("a commit is built in a container and its log is watched live", async () => {
    repo = createRepo();
    repo.commit({ ".circleci/config.yml": CONFIG, "greeting.txt": "hello from the checkout\n" });
    const project = (await (
      await server.api("/api/v1/projects", {
        method: "POST",
        json: { name: "skeleton", repo_url: repo.bare },
      })
    ).json()) as { id: string };
    const pipelineRes = await server.api(`/api/v1/projects/${project.id}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(pipelineRes.status).toBe(201);
    const pipeline = (await pipelineRes.json()) as { id: string; jobs: { id: string; name: string }[] };
    const liveJob = pipeline.jobs.find((j) => j.name === "live")!;
    const brokenJob = pipeline.jobs.find((j) => j.name === "broken")!;

    // Register and run the builder as its own process, reaching LXC through the test's sshd.
    builder = await startBuilder({
      server: server.url,
      adminToken: server.token,
      name: "e2e",
      slots: 2,
      sshd,
    });

    // Watch the live job over SSE: lines must arrive while the job is still running.
    const lines: string[] = [];
    let statusAtFirstTick: string | undefined;
    let end: { status: string } | undefined;
    const ids: number[] = [];
    // The stream ends with the job; past a generous deadline it fails saying what it had seen.
    const watch = new AbortController();
    const deadline = setTimeout(() => watch.abort(), WAIT_MS);
    try {
      for await (const ev of readSse(`${server.url}/api/v1/jobs/${liveJob.id}/log/stream`, {
        headers: { authorization: `Bearer ${server.token}` },
        signal: watch.signal,
      })) {
        if (ev.event === "end") {
          end = JSON.parse(ev.data);
          break;
        }
        lines.push(ev.data);
        ids.push(Number(ev.id));
        if (ev.data === "tick 1" && !statusAtFirstTick) {
          statusAtFirstTick = ((await (await server.api(`/api/v1/jobs/${liveJob.id}`)).json()) as Job).status;
        }
      }
    } catch (err) {
      if (!watch.signal.aborted) throw err;
      const now = ((await (await server.api(`/api/v1/jobs/${liveJob.id}`)).json()) as Job).status;
      throw new Error(
        `waited ${WAIT_MS / 1000} s for the live job's log stream to end; the job is ${now}, ${lines.length} lines came, the last: ${JSON.stringify(lines.slice(-5))}\nbuilder log (tail):\n${builder.output().slice(-2000)}`,
      );
    } finally {
      clearTimeout(deadline);
    }
    expect(statusAtFirstTick).toBe("running");
    expect(end?.status).toBe("success");
    expect(lines).toContain("tick 3");
    expect(lines).toContain("green done"); // colour codes are parsed out of the text
    expect(lines).toContain("hello from the checkout");
    expect(ids).toEqual(ids.map((_, i) => i + 1)); // event ids are line numbers, no gap

    const live = (await (await server.api(`/api/v1/jobs/${liveJob.id}`)).json()) as Job;
    expect(live.status).toBe("success");
    expect(live.unsandboxed).toBe(false);
    expect(live.steps.map((s) => [s.name, s.status, s.exit_code])).toEqual([
      ["Spin up environment", "success", 0],
      ["Checkout code", "success", 0],
      ["Count slowly", "success", 0],
      ["cat greeting.txt", "success", 0],
    ]);

    // The failing step fails its job; later steps are skipped.
    const broken = await until(
      "the broken job to finish",
      async (note) => {
        const j = (await (await server.api(`/api/v1/jobs/${brokenJob.id}`)).json()) as Job;
        note(`it is ${j.status}, steps ${JSON.stringify(j.steps.map((x) => [x.name, x.status]))}`);
        return !["queued", "running"].includes(j.status) && j;
      },
      WAIT_MS,
    );
    expect(broken.status).toBe("failed");
    expect(broken.steps.map((s) => [s.status, s.exit_code])).toEqual([
      ["success", 0],
      ["success", 0],
      ["failed", 3],
      ["skipped", null],
    ]);
    const text = await (await server.api(`/api/v1/jobs/${brokenJob.id}/log?format=text`)).text();
    expect(text).toContain("about to fail");
    expect(text).not.toContain("never printed");

    const p = (await (await server.api(`/api/v1/pipelines/${pipeline.id}`)).json()) as { status: string };
    expect(p.status).toBe("failed");

    await builder.stop();
    expect(await cairnContainers()).toEqual([]);
  }, 600_000); // a safety net only: each wait above fails first, saying what it saw
});
