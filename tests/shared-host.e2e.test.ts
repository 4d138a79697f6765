// Builders that share a fleet host (one sshd, one lxcpath) never touch each other's sandboxes: each
// sandbox is marked with the builder that owns it, and a builder starting up reaps only its own and
// those of builders the server says are gone (revoked), never another live builder's running job.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanUp } from "./harness/clean-up.ts";
import {
  cairnContainers,
  destroyContainers,
  ensureBaseTemplate,
  requireLxc,
  TEMPLATE,
  testLxcPath,
} from "./harness/lxc.ts";
import { startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const skip = await requireLxc({ sshd: true });
// Private to this file: no other test's builder reaps here.
const LXC_PATH = skip ? "" : testLxcPath("shared-host");
const own = { lxcPath: LXC_PATH };

type Job = { id: string; status: string; builder_id: string | null };

// Generous waits: these runs share a loaded CI machine; nothing here asserts a duration.
const WAIT_MS = 240_000;

/** A job that holds its sandbox until the test releases it (`release`), so no wait is a guess. */
const holding = (name: string) =>
  `version: 2.1\njobs:\n  ${name}:\n    machine: true\n    steps:\n      - run: echo "started ${name}"; until [ -e /tmp/release ]; do sleep 0.2; done; echo "finished ${name}"\nworkflows:\n  w:\n    jobs: [${name}]\n`;
const release = (box: string) =>
  expect(spawnSync("lxc-attach", ["-P", LXC_PATH, "-n", box, "--", "touch", "/tmp/release"]).status).toBe(0);

describe.skipIf(skip)("two builders on one host", () => {
  let sshd: TestSshd;
  let server: TestServer;
  let repo: TestRepo;
  let projectId: string;
  const started: BuilderProcess[] = [];

  beforeAll(async () => {
    await ensureBaseTemplate(own);
    sshd = await startSshd();
    server = await startTestServer();
    repo = createRepo();
    repo.commit({ ".circleci/config.yml": holding("warm") });
    const res = await server.api("/api/v1/projects", {
      method: "POST",
      json: { name: "shared-host", repo_url: repo.bare },
    });
    projectId = ((await res.json()) as { id: string }).id;
  });

  afterAll(() =>
    cleanUp([
      ...started.map((b) => async () => {
        if (process.env.CAIRN_TEST_VERBOSE) console.error(`--- builder ${b.id}:\n${b.output()}`);
        await b.stop();
      }),
      () => server?.stop(),
      () => sshd?.stop(),
      () => destroyContainers(own),
      () => repo?.remove(),
    ]),
  );

  const builder = async (name: string) => {
    const spec = `root@127.0.0.1:${sshd.port},key=${sshd.clientKeyPath},host-key=${sshd.hostPublicKey},slots=1,lxc-path=${LXC_PATH}`;
    const b = await startBuilder({ server: server.url, adminToken: server.token, name, lxcHosts: [spec] });
    started.push(b);
    await until(`builder ${name} to start`, async () => b.output().includes("polling"), WAIT_MS);
    return b;
  };
  const pipeline = async (config: string) => {
    repo.commit({ ".circleci/config.yml": config });
    const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { jobs: Job[] }).jobs[0].id;
  };
  const job = async (id: string) => (await (await server.api(`/api/v1/jobs/${id}`)).json()) as Job;
  const log = async (id: string) => (await server.api(`/api/v1/jobs/${id}/log?format=text`)).text();
  const finished = (id: string) =>
    until(
      "the job to finish",
      async () => {
        const j = await job(id);
        return !["queued", "running"].includes(j.status) && j;
      },
      WAIT_MS,
    );
  const owner = (box: string) => readFileSync(join(LXC_PATH, box, "cairn-owner"), "utf8").trim();

  test("a builder starting beside another leaves its sandboxes alone, and reaps those of a revoked one", async () => {
    const a = await builder("shared-a");
    const first = await pipeline(holding("first"));
    await until("the first job to start", async () => (await log(first)).includes("started first"), WAIT_MS);
    const firstBox = `cairn-${first.slice(0, 8)}-1`;
    expect(await cairnContainers(own)).toEqual([firstBox]);
    expect(owner(firstBox)).toBe(a.id);
    // What a crash of a would have left: a stopped sandbox marked as a's.
    const leftover = `cairn-left-${process.pid}`;
    const made = spawnSync("lxc-copy", [
      "-P",
      LXC_PATH,
      "-n",
      TEMPLATE,
      "-N",
      leftover,
      "-s",
      "-B",
      "overlay",
    ]);
    expect(made.status, made.stderr.toString()).toBe(0);
    writeFileSync(join(LXC_PATH, leftover, "cairn-owner"), `${a.id}\n`);

    // b starts while a's job runs: a is live, so b removes nothing.
    const b = await builder("shared-b");
    expect(b.output()).not.toContain("removed orphaned sandboxes");
    expect((await cairnContainers(own)).sort()).toEqual([firstBox, leftover].sort());
    release(firstBox);
    const one = await finished(first);
    expect(one).toMatchObject({ status: "success", builder_id: a.id });
    const firstLog = await log(first);
    expect(firstLog).toContain("finished first");
    expect(firstLog).toContain(
      `Sandbox: unprivileged LXC container ${firstBox}; limits (resource class medium): 2 CPUs, 4 GiB memory, 4096 processes, 20 GiB disk`,
    );

    // a goes away and is revoked; b runs the next job, and c starts beside it.
    await a.stop();
    expect((await server.api(`/api/v1/builders/${a.id}/revoke`, { method: "POST" })).status).toBe(200);
    const second = await pipeline(holding("second"));
    await until(
      "the second job to start",
      async () => (await log(second)).includes("started second"),
      WAIT_MS,
    );
    const secondBox = `cairn-${second.slice(0, 8)}-1`;
    expect(owner(secondBox)).toBe(b.id);
    const c = await builder("shared-c");
    // c reaps what the revoked a left (unless b's reaper got there first, reconnecting to a host
    // slow to answer), and neither touches b's running job.
    const reaped = () => [b, c].map((x) => x.output()).join("");
    expect(reaped()).toContain(`removed orphaned sandboxes ${leftover}`);
    expect(await cairnContainers(own)).toEqual([secondBox]);
    release(secondBox);
    expect(await finished(second)).toMatchObject({ status: "success", builder_id: b.id });
    expect(await log(second)).toContain("finished second");
    expect(reaped()).not.toContain(secondBox);
    expect(await cairnContainers(own)).toEqual([]);
  });
});
