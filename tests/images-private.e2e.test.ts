// An image one project pulls with its registry login is not another project's to run: through a
// real server and a builder process on LXC, project A's job pulls a private image with the
// config's `auth:` block (values from its variables); project B's jobs naming the same image by
// tag or by digest, with no login or a wrong one, fail at once in the registry's words though the
// image sits in the builder's cache; A's next job reuses the cache once the registry accepts its login.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cairnContainers, ensureBaseTemplate, REQUIRE_LXC, requireLxc, testLxcPath } from "./harness/lxc.ts";
import { startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { pushImage, registryMissingReason, startRegistry, type TestRegistry } from "./support/registry.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const missing = registryMissingReason();
if (missing && REQUIRE_LXC)
  test(`image tools are required here (CAIRN_REQUIRE_LXC=1): ${missing}`, () => {
    throw new Error(missing);
  });
const skip = (await requireLxc({ sshd: true })) || Boolean(missing);
const LXC_PATH = skip ? "" : testLxcPath("images");

type Job = { id: string; status: string; failure_reason: string | null; superseded_by: string | null };

describe.skipIf(skip)("a private image is only for jobs with its registry login", () => {
  let sshd: TestSshd;
  let server: TestServer;
  let registry: TestRegistry;
  let builder: BuilderProcess | undefined;
  const imageDir = mkdtempSync(join(tmpdir(), "cairn-e2e-private-images-"));
  const suffix = Math.random().toString(36).slice(2, 8);
  const password = `registry-pw-${suffix}`;

  beforeAll(async () => {
    await ensureBaseTemplate({ lxcPath: LXC_PATH });
    [sshd, server, registry] = await Promise.all([
      startSshd(),
      startTestServer(),
      startRegistry({ users: { deployer: password } }),
    ]);
  });

  afterAll(async () => {
    await builder?.stop();
    for (const c of await cairnContainers({ lxcPath: LXC_PATH }))
      spawnSync("sh", [
        "-c",
        'lxc-stop -P "$1" -k -n "$2"; lxc-destroy -P "$1" -f -n "$2"',
        "rm",
        LXC_PATH,
        c,
      ]);
    await Promise.all([server?.stop(), sshd?.stop(), registry?.stop()]);
    for (const t of readdirSync(LXC_PATH).filter((n) => n.startsWith("cairnimg-"))) {
      const config = join(LXC_PATH, t, "config");
      if (readFileSync(config, "utf8").includes(imageDir)) rmSync(join(LXC_PATH, t), { recursive: true });
    }
    rmSync(imageDir, { recursive: true, force: true });
  });

  test("project B cannot run project A's private image from the builder's cache", async () => {
    const image = `${registry.host}/e2e${suffix}/private`;
    const digest = pushImage(
      registry.host,
      `e2e${suffix}/private`,
      "1",
      { marker: `private-${suffix}` },
      `deployer:${password}`,
    );
    const job = (name: string, ref: string, auth: boolean) => `  ${name}:
    docker:
      - image: ${ref}${auth ? "\n        auth: {username: $REG_USER, password: $REG_PASS}" : ""}
    steps:
      - run: cat /marker
`;
    const project = async (name: string, vars: Record<string, string>, jobs: string[]) => {
      const repo = createRepo();
      repo.commit({
        ".circleci/config.yml": `version: 2.1\njobs:\n${jobs.join("")}workflows:\n  w:\n    jobs: [${jobs.map((j) => j.slice(2, j.indexOf(":"))).join(", ")}]\n`,
      });
      const p = (await (
        await server.api("/api/v1/projects", { method: "POST", json: { name, repo_url: repo.bare } })
      ).json()) as { id: string };
      for (const [k, v] of Object.entries(vars)) {
        const r = await server.api(`/api/v1/projects/${p.id}/envvars`, {
          method: "POST",
          json: { name: k, value: v },
        });
        expect(r.status).toBe(201);
      }
      return p.id;
    };
    const run = async (projectId: string) =>
      (
        (await (
          await server.api(`/api/v1/projects/${projectId}/pipelines`, {
            method: "POST",
            json: { branch: "main" },
          })
        ).json()) as { jobs: { id: string; name: string }[] }
      ).jobs;
    const log = async (id: string) => (await server.api(`/api/v1/jobs/${id}/log?format=text`)).text();
    const finished = (first: string) => {
      let id = first;
      return until(
        `job ${first} to finish`,
        async () => {
          const j = (await (await server.api(`/api/v1/jobs/${id}`)).json()) as Job;
          // A loaded machine may miss heartbeats: the server re-queues the job; follow the retry.
          if (j.status === "lost" && j.superseded_by) id = j.superseded_by;
          return !["queued", "running", "lost"].includes(j.status) && j;
        },
        240_000,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\nbuilder: ${builder?.output()}\nlog: ${await log(id)}`);
      });
    };

    const owner = await project(`owner-${suffix}`, { REG_USER: "deployer", REG_PASS: password }, [
      job("private", `${image}:1`, true),
    ]);
    const other = await project(`other-${suffix}`, { REG_USER: "deployer", REG_PASS: "not-the-password" }, [
      job("by-tag", `${image}:1`, false),
      job("by-digest", `${image}@${digest}`, false),
      job("wrong-login", `${image}:1`, true),
    ]);
    builder = await startBuilder({
      server: server.url,
      adminToken: server.token,
      name: `private-${suffix}`,
      slots: 1,
      sshd,
      extraArgs: ["--insecure-registry", registry.host, "--image-dir", imageDir, "--lxc-path", LXC_PATH],
    });

    const [pulled] = await run(owner);
    const first = await finished(pulled!.id);
    const firstLog = await log(pulled!.id);
    if (first.status !== "success")
      throw new Error(`private ${first.status}: ${first.failure_reason}\n${firstLog}`);
    expect(firstLog).toContain(`Digest: ${digest}`);
    expect(firstLog).toMatch(/Pulled [\d.]+ MB in [\d.]+ s/);
    expect(firstLog).toContain(`private-${suffix}`);

    for (const j of await run(other)) {
      const done = await finished(j.id);
      const text = await log(j.id);
      expect(done.status).toBe("failed");
      expect(done.failure_reason).toContain("infrastructure");
      expect(done.failure_reason).toContain(`from ${registry.host}`);
      expect(done.failure_reason).toContain("unauthorized");
      expect(text).not.toContain(`private-${suffix}`);
    }

    const [again] = await run(owner);
    const second = await finished(again!.id);
    const secondLog = await log(again!.id);
    if (second.status !== "success")
      throw new Error(`private again ${second.status}: ${second.failure_reason}\n${secondLog}`);
    expect(secondLog).toContain("(a private image: the registry accepted this job's credentials for it)");
    expect(secondLog).toContain(`private-${suffix}`);
    // The password went to skopeo through a 0600 file: nothing the builder printed holds it.
    expect(builder.output()).not.toContain(password);

    await builder.stop();
    builder = undefined;
    expect(await cairnContainers({ lxcPath: LXC_PATH })).toEqual([]);
  }, 900_000);
});
