// A config using PUBLISHED orbs runs to success in LXC, all real: a server with its orb registry, the
// harness sshd, a builder process driving LXC through it (`--network none`, its default), a git repo.
// The corpus orbs' commands all need the network (npm, pip, curl), so the steps that run come from a
// tiny orb of this test's own, packed with `cairn orb pack` from a source tree written here (a
// command whose script is `<<include>>`d, a job, an executor); the real node orb from
// ../shared/corpus/orbs is packed the same way, published, and declared by the config too, which
// proves `circleci/node@7` resolves to 7.2.1 from the registry at trigger time.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanUp } from "./harness/clean-up.ts";
import { destroyContainers, ensureBaseTemplate, requireLxc } from "./harness/lxc.ts";
import { startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { corpusPath } from "./support/corpus.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const skip = await requireLxc({ sshd: true });

const ORBS = corpusPath("orbs");

// The orb source tree, as `circleci orb pack` reads one.
const ORB_SOURCE: Record<string, string> = {
  "@orb.yml": "version: 2.1\ndescription: Greets, offline.\n",
  "commands/greet.yml": `description: Print a greeting and check the word count.
parameters:
  who: {type: string, default: world}
steps:
  - run:
      name: Greet
      environment:
        PARAM_WHO: << parameters.who >>
      command: <<include(scripts/greet.sh)>>
`,
  "scripts/greet.sh": `#!/bin/sh
set -eu
greeting="orb says hello, \${PARAM_WHO}"
echo "$greeting"
test "$(echo "$greeting" | wc -w)" -eq 4
`,
  "executors/default.yml": "docker:\n  - image: cimg/base:stable\n",
  "jobs/check.yml": `description: Greet in a job of the orb's own.
executor: default
parameters:
  who: {type: string}
steps:
  - greet: {who: << parameters.who >>}
`,
};

const CONFIG = `version: 2.1
orbs:
  hello: cairn-e2e/hello@1
  node: circleci/node@7
jobs:
  build:
    docker:
      - image: cimg/base:stable
    steps:
      - hello/greet: {who: config}
workflows:
  main:
    jobs:
      - build
      - hello/check: {who: orb-job}
`;

type Pipeline = {
  id: string;
  status: string;
  orbs: Record<string, string>;
  jobs: { id: string; name: string }[];
};

describe.skipIf(skip)("published orbs: resolved at trigger time, run in LXC", () => {
  let dir: string;
  let sshd: TestSshd | undefined;
  let server: TestServer | undefined;
  let builder: BuilderProcess | undefined;
  let repo: TestRepo | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cairn-orb-e2e-"));
    await ensureBaseTemplate();
    sshd = await startSshd();
    server = await startTestServer({ env: { CAIRN_TEMPLATES: '{"cimg/*":"cairn-base"}' } });
  });

  afterAll(() =>
    cleanUp([
      () => builder?.stop(),
      () => destroyContainers(), // whatever a failed test left in this run's lxcpath
      () => server?.stop(),
      () => repo?.remove(),
      () => sshd?.stop(),
      () => dir && rmSync(dir, { recursive: true, force: true }),
    ]),
  );

  test("a config using a published orb's command and job runs to success, the versions recorded", async () => {
    const srv = server!;
    // Spawned asynchronously: the server answering the CLI runs in this test's own event loop.
    const cairn = async (...argv: string[]) => {
      const p = Bun.spawn([process.execPath, join(import.meta.dir, "../server/cairn-cli.ts"), ...argv], {
        env: {
          ...process.env,
          CAIRN_SERVER: srv.url,
          CAIRN_TOKEN: srv.token,
          CAIRN_CLI_CONFIG: join(dir, "cli.json"),
          NO_COLOR: "1",
        },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, code] = await Promise.all([
        new Response(p.stdout).text(),
        new Response(p.stderr).text(),
        p.exited,
      ]);
      return { code, stdout, stderr };
    };
    const src = join(dir, "hello-src");
    for (const [path, text] of Object.entries(ORB_SOURCE)) {
      mkdirSync(join(src, path, ".."), { recursive: true });
      writeFileSync(join(src, path), text);
    }
    for (const [ref, source] of [
      ["cairn-e2e/hello@1.0.0", src],
      ["circleci/node@7.2.1", join(ORBS, "node-orb-v7.2.1/src")],
    ] as const) {
      const packed = await cairn("orb", "pack", source);
      expect({ code: packed.code, stderr: packed.stderr }).toEqual({ code: 0, stderr: "" });
      const file = join(dir, `${ref.replace(/\W/g, "_")}.yml`);
      writeFileSync(file, packed.stdout);
      const published = await cairn("orb", "publish", ref, file);
      expect({ code: published.code, stderr: published.stderr }).toEqual({ code: 0, stderr: "" });
    }
    expect((await cairn("orb", "list")).stdout).toContain("cairn-e2e/hello  1.0.0");

    repo = createRepo();
    repo.commit({ ".circleci/config.yml": CONFIG });
    const project = (await (
      await srv.api("/api/v1/projects", { method: "POST", json: { name: "orb-e2e", repo_url: repo.bare } })
    ).json()) as { id: string };
    const res = await srv.api(`/api/v1/projects/${project.id}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(res.status).toBe(201);
    const triggered = (await res.json()) as Pipeline;
    expect(triggered.status).not.toBe("error");
    expect(triggered.jobs.map((j) => j.name).sort()).toEqual(["build", "hello/check"]);

    builder = await startBuilder({ server: srv.url, adminToken: srv.token, name: "orb-e2e", slots: 2, sshd });

    const done = await until("the pipeline to finish", async (note) => {
      const p = (await (await srv.api(`/api/v1/pipelines/${triggered.id}`)).json()) as Pipeline;
      note(p.status);
      return ["created", "queued", "running"].includes(p.status) ? undefined : p;
    });
    const logs: Record<string, string> = {};
    for (const job of triggered.jobs)
      logs[job.name] = await (await srv.api(`/api/v1/jobs/${job.id}/log?format=text`)).text();
    expect({ status: done.status, logs }).toMatchObject({ status: "success" });
    expect(done.orbs).toEqual({ hello: "cairn-e2e/hello@1.0.0", node: "circleci/node@7.2.1" });
    expect(logs.build).toContain("orb says hello, config");
    expect(logs["hello/check"]).toContain("orb says hello, orb-job");

    const steps = (await (
      await srv.api(`/api/v1/jobs/${triggered.jobs.find((j) => j.name === "build")!.id}`)
    ).json()) as {
      steps: { name: string; status: string }[];
    };
    expect(steps.steps.map((s) => [s.name, s.status])).toEqual([
      ["Spin up environment", "success"],
      ["Greet", "success"],
    ]);
  }, 240_000);
});
