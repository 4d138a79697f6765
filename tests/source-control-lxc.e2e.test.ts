// The deploy-key checkout as the product runs it: a real builder daemon driving LXC through a real
// sshd (the fleet host), cloning a private repository over SSH from that host with the project's
// deploy key and pinned host keys, and handing the tree into a container that has no network.
// Nothing of the key is inside the container; nothing is left on the host.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { cleanUp } from "./harness/clean-up.ts";
import { cairnContainers, destroyContainers, ensureBaseTemplate, requireLxc } from "./harness/lxc.ts";
import { startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const skip = await requireLxc({ sshd: true });

const CONFIG = `version: 2.1
jobs:
  build:
    docker:
      - image: cimg/base:stable
    steps:
      - checkout
      - run:
          name: Inside the container
          command: |
            cat README.md
            if grep -rqs "OPENSSH PRIVATE"" KEY" /root /tmp /etc 2>/dev/null; then echo "KEY FOUND"; else echo "no key in the container"; fi
            if ls /tmp | grep -q cairn-key; then echo "KEY DIR FOUND"; else echo "no key dir in the container"; fi
            if env | grep -q GIT_SSH_COMMAND; then echo "SSH COMMAND LEAKED"; else echo "no ssh command in the environment"; fi
workflows:
  main:
    jobs: [build]
`;

describe.skipIf(skip)("deploy-key checkout into an LXC container", () => {
  let sshd: TestSshd;
  let server: TestServer;
  let builder: BuilderProcess | undefined;
  let projectId: string;
  let repo: TestRepo | undefined;

  beforeAll(async () => {
    await ensureBaseTemplate();
    sshd = await startSshd();
    server = await startTestServer({ env: { CAIRN_TEMPLATES: '{"cimg/*":"cairn-base"}' } });
    repo = createRepo();
    repo.commit({ ".circleci/config.yml": CONFIG, "README.md": "lxc private readme 91c2\n" }, "private");
    const url = `ssh://root@127.0.0.1:${sshd.port}${repo.bare}`;
    const p = (await (
      await server.api("/api/v1/projects", { method: "POST", json: { name: "lxc-private", repo_url: url } })
    ).json()) as { id: string };
    projectId = p.id;
    const key = (await (
      await server.api(`/api/v1/projects/${projectId}/deploy-key`, { method: "POST" })
    ).json()) as { public_key: string };
    sshd.addAuthorizedKey(key.public_key);
    const known_hosts = `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}`;
    expect(
      (await server.api(`/api/v1/projects/${projectId}`, { method: "PATCH", json: { known_hosts } })).status,
    ).toBe(200);
  }, 120_000);

  afterAll(() =>
    cleanUp([
      () => builder?.stop(),
      () => destroyContainers(), // whatever a failed test left in this run's lxcpath
      () => server?.stop(),
      () => sshd?.stop(),
      () => repo?.remove(),
    ]),
  );

  test("the tree arrives, the key does not", async () => {
    // Key dirs on the host: other runs on this machine make (and remove) theirs meanwhile.
    const keyDirs = () => readdirSync("/tmp").filter((n) => n.startsWith("cairn-key-"));
    const keysBefore = new Set(keyDirs());
    const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(res.status).toBe(201);
    const jobId = ((await res.json()) as { jobs: { id: string }[] }).jobs[0].id;
    builder = await startBuilder({
      server: server.url,
      adminToken: server.token,
      name: "lxc-checkout",
      sshd,
    });
    type Job = { status: string; failure_reason: string | null; unsandboxed: boolean | null };
    // Minutes: a safety net for a loaded machine (the job takes seconds), not a speed claim.
    const job = await until(
      "the checkout job to finish",
      async (note) => {
        const j = (await (await server.api(`/api/v1/jobs/${jobId}`)).json()) as Job;
        note(`it is ${j.status}; builder log (tail): ${builder?.output().slice(-1500)}`);
        return !["queued", "running"].includes(j.status) && j;
      },
      180_000,
    );
    const log = await (await server.api(`/api/v1/jobs/${jobId}/log?format=text`)).text();
    expect({
      status: job.status,
      reason: job.failure_reason,
      unsandboxed: job.unsandboxed,
      log,
    }).toMatchObject({
      status: "success",
      reason: null,
      unsandboxed: false,
    });
    expect(log).toContain("with the project's deploy key");
    expect(log).toContain("lxc private readme 91c2");
    expect(log).toContain("no key in the container");
    expect(log).toContain("no key dir in the container");
    expect(log).toContain("no ssh command in the environment");
    // A key dir made since the start that stays is ours; another run's in flight goes (60 s at most).
    const added = () => keyDirs().filter((n) => !keysBefore.has(n));
    for (let i = 0; i < 240 && added().length; i++) await Bun.sleep(250);
    expect(added()).toEqual([]);
    await builder.stop();
    builder = undefined;
    // This job's container is gone (others' tests may have their own running).
    expect((await cairnContainers()).filter((n) => n.startsWith(`cairn-${jobId.slice(0, 8)}`))).toEqual([]);
  }, 420_000); // a safety net only: the wait above fails first, saying what it saw
});
