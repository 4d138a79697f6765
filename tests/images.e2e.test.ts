// The image the config names is what runs: a real registry (docker-registry on loopback), an image
// built here with umoci, a builder process driving LXC through the test's sshd. The job proves it
// ran that image by a marker file only the image has; a missing image fails at once, in the
// registry's words; CAIRN_TEMPLATES still maps an image to a local template. A second docker entry
// is a service container the job reaches on localhost and by its name.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanUp } from "./harness/clean-up.ts";
import {
  cairnContainers,
  destroyContainers,
  ensureBaseTemplate,
  REQUIRE_LXC,
  requireLxc,
  testLxcPath,
} from "./harness/lxc.ts";
import { startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { pushImage, registryMissingReason, startRegistry, type TestRegistry } from "./support/registry.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const missing = registryMissingReason();
if (missing && REQUIRE_LXC)
  test(`image tools are required here (CAIRN_REQUIRE_LXC=1): ${missing}`, () => {
    throw new Error(missing);
  });
const skip = (await requireLxc({ sshd: true })) || Boolean(missing);
// This run's own lxcpath: a sweep after a kill finds its containers and image templates there.
const LXC_PATH = skip ? "" : testLxcPath("images");

type Job = {
  status: string;
  failure_reason: string | null;
  superseded_by: string | null;
  steps: { name: string; status: string; exit_code: number | null }[];
};

describe.skipIf(skip)("jobs run in the image their config names", () => {
  let sshd: TestSshd;
  let server: TestServer;
  let registry: TestRegistry;
  let builder: BuilderProcess | undefined;
  const repos: TestRepo[] = [];
  const imageDir = mkdtempSync(join(tmpdir(), "cairn-e2e-images-"));
  const suffix = Math.random().toString(36).slice(2, 8);

  beforeAll(async () => {
    // A private lxcpath: its base template is this branch's, whatever other runs do to the system's.
    await ensureBaseTemplate({ lxcPath: LXC_PATH });
    [sshd, server, registry] = await Promise.all([
      startSshd(),
      startTestServer({ env: { CAIRN_TEMPLATES: '{"cimg/*":"cairn-base"}' } }),
      startRegistry(),
    ]);
  });

  afterAll(() =>
    cleanUp([
      () => builder?.stop(),
      () => destroyContainers({ lxcPath: LXC_PATH }), // whatever a failed run left in this test's lxcpath
      () => server?.stop(),
      () => sshd?.stop(),
      () => registry?.stop(),
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

  test("the job runs the named image, as its user, with its Env under the job's environment", async () => {
    const digest = pushImage(registry.host, `e2e${suffix}/marked`, "1", {
      marker: `only-in-${suffix}`,
      user: "1000:1000",
      env: ["FROM_IMAGE=image", "BOTH=image"],
      workdir: "/home/user",
    });
    pushImage(registry.host, `e2e${suffix}/web`, "1", {
      marker: `served-${suffix}`,
      user: "1000:1000",
      entrypoint: ["httpd", "-f", "-v"],
      cmd: ["-p", "8080", "-h", "/"],
    });
    const config = `version: 2.1
jobs:
  in-image:
    docker:
      - image: ${registry.host}/e2e${suffix}/marked:1
    environment:
      BOTH: job
    steps:
      - checkout
      - run: cat /marker
      - run: echo "uid=$(id -u) home=$HOME from_image=$FROM_IMAGE both=$BOTH pwd=$(pwd)"
      - run: cat greeting.txt
  missing:
    docker:
      - image: ${registry.host}/e2e${suffix}/no-such-image:1
    steps:
      - run: echo never runs
  nobody-serves:
    docker:
      - image: 127.0.0.1:9/e2e/any:1
    steps:
      - run: echo never runs
  mapped:
    docker:
      - image: cimg/base:stable
    steps:
      - run: test ! -e /marker && echo on the operator template
  with-service:
    docker:
      - image: ${registry.host}/e2e${suffix}/marked:1
      - image: ${registry.host}/e2e${suffix}/web:1
        name: web
    steps:
      - run: for i in $(seq 1 200); do wget -qO- http://localhost:8080/marker && exit 0; sleep 0.1; done; exit 1
      - run: wget -qO- http://web:8080/marker
  service-missing:
    docker:
      - image: ${registry.host}/e2e${suffix}/marked:1
      - image: ${registry.host}/e2e${suffix}/no-such-service:1
    steps:
      - run: echo never runs
workflows:
  w:
    jobs: [in-image, missing, nobody-serves, mapped, with-service, service-missing]
`;
    const repo = createRepo();
    repos.push(repo);
    repo.commit({ ".circleci/config.yml": config, "greeting.txt": "hello from the checkout\n" });
    const project = (await (
      await server.api("/api/v1/projects", {
        method: "POST",
        json: { name: `img-${suffix}`, repo_url: repo.bare },
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
      name: `images-${suffix}`,
      slots: 2,
      sshd,
      extraArgs: ["--insecure-registry", registry.host, "--image-dir", imageDir, "--lxc-path", LXC_PATH],
    });
    const ids: Record<string, string> = {};
    const id = (name: string) => ids[name] ?? pipeline.jobs.find((j) => j.name === name)!.id;
    const log = async (name: string) => (await server.api(`/api/v1/jobs/${id(name)}/log?format=text`)).text();
    const finished = (name: string) =>
      until(
        `job ${name} to finish`,
        async () => {
          let j = (await (await server.api(`/api/v1/jobs/${id(name)}`)).json()) as Job;
          // A loaded machine may miss heartbeats: the server re-queues the job; follow the retry.
          if (j.status === "lost" && j.superseded_by) {
            ids[name] = j.superseded_by;
            j = (await (await server.api(`/api/v1/jobs/${j.superseded_by}`)).json()) as Job;
          }
          return !["queued", "running", "lost"].includes(j.status) && j;
        },
        240_000,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\nbuilder: ${builder?.output()}\nlog: ${await log(name)}`);
      });

    const ran = await finished("in-image");
    const text = await log("in-image");
    if (ran.status !== "success") throw new Error(`in-image ${ran.status}: ${ran.failure_reason}\n${text}`);
    expect(ran.steps[0]).toMatchObject({
      index: 0,
      name: "Spin up environment",
      status: "success",
      exit_code: 0,
    });
    expect(text).toContain(`Image: ${registry.host}/e2e${suffix}/marked:1`);
    expect(text).toContain(`Digest: ${digest}`);
    expect(text).toMatch(/Pulled [\d.]+ MB in [\d.]+ s/);
    expect(text).toContain(`only-in-${suffix}`);
    expect(text).toContain("uid=1000 home=/home/user from_image=image both=job pwd=/home/user/project");
    expect(text).toContain("hello from the checkout");
    // Spin up comes first in the log.
    expect(text.indexOf("Image:")).toBeLessThan(text.indexOf(`only-in-${suffix}`));

    const gone = await finished("missing");
    expect(gone.status).toBe("failed");
    expect(gone.failure_reason).toContain("infrastructure");
    expect(gone.failure_reason).toContain(
      `cannot pull image ${registry.host}/e2e${suffix}/no-such-image:1 from ${registry.host}`,
    );
    expect(gone.failure_reason).toContain("manifest unknown");
    expect(gone.steps.map((s) => [s.name, s.status])).toEqual([["Spin up environment", "failed"]]);
    expect(await log("missing")).toContain("manifest unknown");

    const unserved = await finished("nobody-serves");
    expect(unserved.status).toBe("failed");
    expect(unserved.failure_reason).toContain("cannot pull image 127.0.0.1:9/e2e/any:1 from 127.0.0.1:9");

    const mapped = await finished("mapped");
    expect(mapped.status).toBe("success");
    const mappedLog = await log("mapped");
    expect(mappedLog).toContain("Template: cairn-base (the operator's template for image cimg/base:stable)");
    expect(mappedLog).toContain("on the operator template");

    const served = await finished("with-service");
    const servedLog = await log("with-service");
    if (served.status !== "success")
      throw new Error(`with-service ${served.status}: ${served.failure_reason}\n${servedLog}`);
    expect(servedLog).toContain(`Service container ${registry.host}/e2e${suffix}/web:1: sha256:`);
    expect(servedLog).toMatch(
      /Service container \S+\/web:1: started as cairn-\S+-svc1, reachable on localhost and web/,
    );
    expect(servedLog.split(`served-${suffix}`).length - 1).toBe(2);
    // Its output (httpd -v: one line per request) is a step after the job's own.
    expect(served.steps.map((s) => [s.name, s.status]).at(-1)).toEqual([
      `Service container ${registry.host}/e2e${suffix}/web:1`,
      "success",
    ]);
    expect(servedLog).toMatch(/response:200/);

    const noService = await finished("service-missing");
    expect(noService.status).toBe("failed");
    expect(noService.failure_reason).toContain(
      `cannot pull image ${registry.host}/e2e${suffix}/no-such-service:1 from ${registry.host}`,
    );
    expect(noService.steps.map((s) => [s.name, s.status])).toEqual([["Spin up environment", "failed"]]);
    expect(await log("service-missing")).toContain("manifest unknown");

    await builder.stop();
    builder = undefined;
    expect(await cairnContainers({ lxcPath: LXC_PATH })).toEqual([]);
  }, 900_000);
});
