// Job payloads on a real libSQL file: the environment CircleCI jobs expect, secrets and the deploy
// key sealed to the leasing builder and bound to the job, test timings only where a split wants them.
import { afterEach, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { checkoutKeyContext, type TestTimings } from "../../../protocol/index.ts";
import { jobs, pipelines, projects } from "../../db/schema.ts";
import { openSealedSecrets, SecretsError } from "../../secrets/index.ts";
import { templateTable } from "../templates.ts";
import { JobPayloads } from "./payloads.ts";
import { run, schedulerFixture } from "./testing.ts";

let fx: Awaited<ReturnType<typeof schedulerFixture>>;
afterEach(() => fx.close());

test("a payload carries the job's steps, CircleCI's environment, its slice, and the SSH window of an SSH re-run", async () => {
  fx = await schedulerFixture();
  const wf = await fx.workflow([{ name: "test", slices: 2 }]);
  const b = await fx.builder();
  await fx.db.update(jobs).set({ sshEnabled: true }).where(eq(jobs.id, wf.ids.test[1]));
  const payloads = new JobPayloads({ db: fx.db, sshWindowSeconds: 120 });
  const p = await payloads.build(wf.ids.test[1], "lease-1", b.id);
  expect(p.lease_id).toBe("lease-1");
  expect(p.resource_class).toBe("medium");
  expect(p.ssh).toEqual({ window_seconds: 120 });
  expect(p.checkout).toEqual({ repo_url: "/dev/null", sha: "a".repeat(40), branch: "main", tag: null });
  expect(p.environment).toMatchObject({
    FROM_CONFIG: "yes",
    CIRCLECI: "true",
    CIRCLE_JOB: "test",
    CIRCLE_BRANCH: "main",
    CIRCLE_NODE_INDEX: "1",
    CIRCLE_NODE_TOTAL: "2",
    CAIRN_JOB_ID: wf.ids.test[1],
  });
  expect(p.steps).toEqual([run("echo hi")]);
  expect(p.secrets).toBeUndefined();
  expect((await payloads.build(wf.ids.test[0], "lease-0", b.id)).ssh).toBeUndefined();
});

test("secrets and the deploy key are sealed to the leasing builder, each bound to this job", async () => {
  fx = await schedulerFixture();
  const wf = await fx.workflow([{ name: "deploy", contexts: ["prod"] }]);
  const b = await fx.builder();
  const other = await fx.builder();
  const asked: unknown[] = [];
  const payloads = new JobPayloads({
    db: fx.db,
    jobSecrets: async (projectId, contexts, jobId) => {
      asked.push([projectId, contexts, jobId]);
      return { TOKEN: "s3cr3t-value" };
    },
    checkoutKey: async () => "-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n-----END OPENSSH PRIVATE KEY-----\n",
  });
  const id = wf.job("deploy");
  const p = await payloads.build(id, "lease", b.id);
  expect(asked).toEqual([[wf.projectId, ["prod"], id]]);
  expect(JSON.stringify(p)).not.toContain("s3cr3t-value");
  expect(JSON.stringify(p)).not.toContain("PRIVATE KEY");
  expect(openSealedSecrets(p.secrets!, b.secretKey, id)).toEqual({ TOKEN: "s3cr3t-value" });
  expect(() => openSealedSecrets(p.secrets!, b.secretKey, "another-job")).toThrow();
  expect(() => openSealedSecrets(p.secrets!, other.secretKey, id)).toThrow();
  const key = openSealedSecrets(p.checkout.deploy_key!, b.secretKey, checkoutKeyContext(id));
  expect(key.private_key).toContain("PRIVATE KEY");
  expect(p.checkout.known_hosts).toBe("");
  // A builder the database does not know gets no payload: the secrets have no one to be sealed to.
  await expect(payloads.build(id, "lease", "no-such-builder")).rejects.toBeInstanceOf(SecretsError);
});

test("test timings go only to a parallel job or one whose step calls the split helper; the image table names the image", async () => {
  fx = await schedulerFixture();
  const wf = await fx.workflow([
    { name: "one" },
    { name: "many", slices: 2 },
    { name: "split", steps: [run("cairn tests split --split-by=timings")] },
  ]);
  const b = await fx.builder();
  const timings: TestTimings = { file: { "a.test.ts": 1.5 }, classname: {}, testname: {} };
  const payloads = new JobPayloads({
    db: fx.db,
    testTimings: async () => timings,
    templates: templateTable({}, "cairn-base"),
  });
  expect((await payloads.build(wf.job("one"), "l", b.id)).test_timings).toBeUndefined();
  expect((await payloads.build(wf.job("many"), "l", b.id)).test_timings).toEqual(timings);
  expect((await payloads.build(wf.job("split"), "l", b.id)).test_timings).toEqual(timings);
  expect((await payloads.build(wf.job("one"), "l", b.id)).template).toBe("cairn-base");
});

test("a fork's pull request gets no secrets, contexts, OIDC or deploy key, and clones over the public URL", async () => {
  fx = await schedulerFixture();
  const wf = await fx.workflow([{ name: "test", contexts: ["prod"] }]);
  const b = await fx.builder();
  await fx.db
    .update(projects)
    .set({ repoUrl: "git@github.com:acme/app.git" })
    .where(eq(projects.id, wf.projectId));
  await fx.db
    .update(pipelines)
    .set({
      fromFork: true,
      branch: "pull/7",
      metadata: JSON.stringify({
        pull_request: {
          number: 7,
          url: "https://github.com/acme/app/pull/7",
          head_ref: "patch-1",
          head_repo: "mallory/app",
          base_ref: "main",
          base_repo: "acme/app",
          title: null,
          fork: true,
          user: "mallory",
        },
      }),
    })
    .where(eq(pipelines.id, wf.pipelineId));
  const asked: unknown[] = [];
  const payloads = new JobPayloads({
    db: fx.db,
    // The port's pipeline-only answer stands for a setup job's continuation key.
    jobSecrets: async (...args): Promise<Record<string, string>> => {
      asked.push(args);
      return args[3]?.pipelineOnly ? {} : { TOKEN: "s3cr3t-value", CIRCLE_OIDC_TOKEN: "jwt" };
    },
    checkoutKey: async () => "-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n-----END OPENSSH PRIVATE KEY-----\n",
  });
  const id = wf.job("test");
  const p = await payloads.build(id, "lease", b.id);
  expect(asked).toEqual([[wf.projectId, [], id, { pipelineOnly: true }]]);
  expect(p.secrets).toBeUndefined();
  expect(p.checkout).toEqual({
    repo_url: "https://github.com/acme/app.git",
    sha: "a".repeat(40),
    branch: "pull/7",
    tag: null,
  });
  expect(p.environment).toMatchObject({
    CIRCLE_BRANCH: "pull/7",
    CIRCLE_PR_NUMBER: "7",
    CIRCLE_PR_REPONAME: "app",
    CIRCLE_PR_USERNAME: "mallory",
    CIRCLE_PULL_REQUEST: "https://github.com/acme/app/pull/7",
    CAIRN_FORK_SECRETS: "withheld",
  });

  // The project's opt-in passes them, as for any other job.
  await fx.db.update(projects).set({ passSecretsToForks: true }).where(eq(projects.id, wf.projectId));
  asked.length = 0;
  const passed = await payloads.build(id, "lease", b.id);
  expect(asked).toEqual([[wf.projectId, ["prod"], id]]);
  expect(openSealedSecrets(passed.secrets!, b.secretKey, id)).toMatchObject({ TOKEN: "s3cr3t-value" });
  expect(passed.checkout.repo_url).toBe("git@github.com:acme/app.git");
  expect(passed.checkout.deploy_key).toBeDefined();
  expect(passed.environment.CAIRN_FORK_SECRETS).toBe("passed");
});

test("a project set to `network: none` sends it to the builder; by default the payload leaves the network to it", async () => {
  fx = await schedulerFixture();
  const wf = await fx.workflow([{ name: "build" }]);
  const b = await fx.builder();
  const payloads = new JobPayloads({ db: fx.db });
  expect((await payloads.build(wf.job("build"), "lease", b.id)).network).toBeUndefined();
  await fx.db.update(projects).set({ network: "none" }).where(eq(projects.id, wf.projectId));
  expect((await payloads.build(wf.job("build"), "lease", b.id)).network).toBe("none");
});
