// `machine:` jobs run on the operator's default image: a Debian image `cairn-builder image
// build-default` makes with mmdebstrap from Debian's packages (the tarball cached under the test
// cache, so only the first run builds it), imported into the store as a local OCI image. The job
// proves it by /etc/os-release; its log and its API answer name the image and its digest. A
// `docker` image no rule maps, on a host with no route to its registry, fails at once naming both.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImageStore } from "../builder/images/store.ts";
import { createLocalTransport } from "../builder/transport/local.ts";
import { cleanUp } from "./harness/clean-up.ts";
import {
  destroyContainers,
  ensureBaseTemplate,
  REQUIRE_LXC,
  requireLxc,
  TEMPLATE,
  testLxcPath,
} from "./harness/lxc.ts";
import { startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { registryMissingReason } from "./support/registry.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const CACHE = process.env.CAIRN_TEST_CACHE ?? "/var/tmp/cairn-test-cache";
const missing =
  registryMissingReason() ??
  (spawnSync("sh", ["-c", "command -v mmdebstrap"]).status === 0 ? undefined : "mmdebstrap is not installed");
if (missing && REQUIRE_LXC)
  test(`image tools are required here (CAIRN_REQUIRE_LXC=1): ${missing}`, () => {
    throw new Error(missing);
  });
const skip = (await requireLxc({ sshd: true })) || Boolean(missing);
// This run's own lxcpath (tests/harness/runs.ts): another run's containers are never in it, and a
// killed run's are swept with it. The built image is cached in CACHE, not here.
const LXC_PATH = skip ? "" : testLxcPath("default-image");

type Job = {
  status: string;
  failure_reason: string | null;
  superseded_by: string | null;
  image: { name: string; digest: string } | null;
  steps: { name: string; status: string }[];
};

describe.skipIf(skip)("machine: jobs run on the default image", () => {
  let sshd: TestSshd;
  let server: TestServer;
  let builder: BuilderProcess | undefined;
  const repos: TestRepo[] = [];
  const imageDir = mkdtempSync(join(tmpdir(), "cairn-e2e-default-image-"));
  const suffix = Math.random().toString(36).slice(2, 8);
  let built = "";

  beforeAll(async () => {
    await ensureBaseTemplate({ lxcPath: LXC_PATH });
    [sshd, server] = await Promise.all([startSshd(), startTestServer()]);
    // The real build (cold: minutes; warm: the cached tarball imported in seconds).
    const r = spawnSync(
      process.execPath,
      [
        join(import.meta.dir, "..", "builder/cli.ts"),
        "image",
        "build-default",
        "--image-dir",
        imageDir,
        "--cache",
        join(CACHE, "default-image"),
      ],
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`build-default failed: ${r.stdout}${r.stderr}`);
    built = r.stdout;
  }, 1_200_000);

  afterAll(() =>
    cleanUp([
      () => builder?.stop(),
      () => destroyContainers({ lxcPath: LXC_PATH }), // whatever a failed run left in this test's lxcpath
      () => server?.stop(),
      () => sshd?.stop(),
      // The image templates this test's store made (in its lxcpath, where the builder makes them).
      () => {
        for (const t of readdirSync(LXC_PATH).filter((n) => n.startsWith("cairnimg-"))) {
          const config = join(LXC_PATH, t, "config");
          if (readFileSync(config, "utf8").includes(imageDir)) rmSync(join(LXC_PATH, t), { recursive: true });
        }
      },
      () => rmSync(imageDir, { recursive: true, force: true }),
      ...repos.map((r) => () => r.remove()),
    ]),
  );

  test("a machine job runs in the built Debian image; its log and API answer name the image and digest", async () => {
    const digest = /is (sha256:[0-9a-f]{64})/.exec(built)?.[1];
    expect(built).toContain("cairn/debian:bookworm is sha256:");
    const config = `version: 2.1
jobs:
  on-machine:
    machine: true
    steps:
      - checkout
      - run: cat /etc/os-release
      - run: git --version && curl --version | head -n 1 && test -f /etc/ssl/certs/ca-certificates.crt && echo tools-ok
  offline:
    docker:
      - image: cairn-e2e-${suffix}/nowhere:1
    steps:
      - run: echo never runs
workflows:
  w:
    jobs: [on-machine, offline]
`;
    const repo = createRepo();
    repos.push(repo);
    repo.commit({ ".circleci/config.yml": config, "greeting.txt": "hello\n" });
    const project = (await (
      await server.api("/api/v1/projects", {
        method: "POST",
        json: { name: `dflt-${suffix}`, repo_url: repo.bare },
      })
    ).json()) as { id: string };
    const pipeline = (await (
      await server.api(`/api/v1/projects/${project.id}/pipelines`, {
        method: "POST",
        json: { branch: "main" },
      })
    ).json()) as { jobs: { id: string; name: string }[] };
    builder = await startBuilder({
      server: server.url,
      adminToken: server.token,
      name: `default-image-${suffix}`,
      slots: 2,
      sshd,
      extraArgs: ["--image-dir", imageDir, "--lxc-path", LXC_PATH],
    });
    const ids: Record<string, string> = {};
    const id = (name: string) => ids[name] ?? pipeline.jobs.find((j) => j.name === name)!.id;
    const log = async (name: string) => (await server.api(`/api/v1/jobs/${id(name)}/log?format=text`)).text();
    const finished = (name: string) =>
      until(
        `job ${name} to finish`,
        async () => {
          let j = (await (await server.api(`/api/v1/jobs/${id(name)}`)).json()) as Job;
          if (j.status === "lost" && j.superseded_by) {
            ids[name] = j.superseded_by;
            j = (await (await server.api(`/api/v1/jobs/${j.superseded_by}`)).json()) as Job;
          }
          return !["queued", "running", "lost"].includes(j.status) && j;
        },
        300_000,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\nbuilder: ${builder?.output()}\nlog: ${await log(name)}`);
      });

    const ran = await finished("on-machine");
    const text = await log("on-machine");
    if (ran.status !== "success") throw new Error(`on-machine ${ran.status}: ${ran.failure_reason}\n${text}`);
    expect(text).toContain("No docker image for this job (machine: or none): the builder's default image");
    expect(text).toContain("Image: cairn/debian:bookworm");
    expect(text).toContain(`Digest: ${digest}`);
    expect(text).toMatch(/ID=debian/);
    expect(text).toContain("VERSION_CODENAME=bookworm");
    expect(text).toContain("tools-ok");
    expect(ran.image).toEqual({ name: "cairn/debian:bookworm", digest: digest! });

    const offline = await finished("offline");
    expect(offline.status).toBe("failed");
    expect(offline.image).toBeNull();
    expect(offline.failure_reason).toContain(
      `cannot pull image cairn-e2e-${suffix}/nowhere:1 from docker.io`,
    );
    expect(offline.steps.map((s) => [s.name, s.status])).toEqual([["Spin up environment", "failed"]]);
  }, 900_000);

  test("a collected bundle of the built image is unpacked again from the store, no registry asked", async () => {
    const store = new ImageStore(
      createLocalTransport(),
      { dir: imageDir, graceSeconds: 0 },
      { lxcPath: LXC_PATH, baseTemplate: TEMPLATE },
    );
    expect(await store.defaultImage()).toBe("cairn/debian:bookworm");
    const digest = /is (sha256:[0-9a-f]{64})/.exec(built)?.[1];
    expect(await store.collect(0)).toContain(digest!);
    const again = await store.prepare("cairn/debian:bookworm");
    store.release(again);
    expect(again).toMatchObject({ digest, local: true, cached: false, bytes: 0 });
    expect(
      readFileSync(join(imageDir, "bundles", again.template, "rootfs/etc/os-release"), "utf8"),
    ).toContain("ID=debian");
  }, 600_000);
});
