// CircleCI's continuation API over a real socket and a real libSQL file, with a stand-in builder
// speaking the real protocol: a `setup: true` pipeline's job gets CIRCLE_CONTINUATION_KEY sealed to
// its builder (only the key's hash is stored); POST /api/v2/pipeline/continue with that key plans the
// continuation into the same pipeline, once, with its declared parameters. A wrong key, an invalid
// config, a second use and a key whose setup job has ended are refused. The forge (a fake GitHub, a
// real HTTP server) gets a pending status for each workflow the continuation adds, then its result.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import nacl from "tweetnacl";
import { ServerClient } from "../builder/client.ts";
import { type JobPayload, openSealedSecrets } from "../protocol/index.ts";
import { continuationKeys } from "../server/db/schema.ts";
import { PipelineContinued } from "../server/openapi/schemas/responses.ts";
import { acquireJob } from "./support/builder-sim.ts";
import { type FakeGithub, type RecordedRequest, startFakeGithub } from "./support/forge.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const SETUP = `version: 2.1
setup: true
jobs:
  generate:
    docker: [{image: cimg/base:stable}]
    steps:
      - run: echo generating
workflows:
  setup:
    jobs: [generate]
`;

const CONTINUATION = `version: 2.1
parameters:
  target:
    type: string
    default: all
jobs:
  build:
    docker: [{image: cimg/base:stable}]
    steps:
      - run: echo building << pipeline.parameters.target >>
workflows:
  continued:
    jobs: [build]
`;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const keys = nacl.box.keyPair();
let server: TestServer;
let projectId: string;
let builder: ServerClient;
let github: FakeGithub;
let sha: string;
const statusesOf = (r: RecordedRequest[], context: string) =>
  r
    .filter((x) => x.path.endsWith(`/statuses/${sha}`) && (x.body as { context: string }).context === context)
    .map((x) => (x.body as { state: string }).state);

interface PipelineView {
  id: string;
  number: number;
  status: string;
  finished_at: string | null;
  config_errors: { file: string; line: number; message: string }[];
  workflows: { id: string; name: string; status: string }[];
  jobs: { id: string; name: string; status: string }[];
}

const continueWith = (body: unknown) =>
  fetch(`${server.url}/api/v2/pipeline/continue`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string; details?: unknown } }).error;
const pipelineView = async (id: string) =>
  (await (await server.api(`/api/v1/pipelines/${id}`)).json()) as PipelineView;

async function trigger(): Promise<PipelineView> {
  const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
    method: "POST",
    json: { branch: "main" },
  });
  expect(res.status).toBe(201);
  return (await res.json()) as PipelineView;
}

/** The next job a builder is given (the setup job just triggered, or the continuation's). */
/** The next job of the pipeline, leased as a builder would, with the continuation key its secrets hold. */
async function lease(pipeline: string): Promise<{ payload: JobPayload; key?: string }> {
  const payload = await acquireJob(builder, { pipeline });
  const secrets = payload.secrets
    ? openSealedSecrets(payload.secrets, b64(keys.secretKey), payload.job.id)
    : {};
  return { payload, key: secrets.CIRCLE_CONTINUATION_KEY };
}

beforeAll(async () => {
  github = startFakeGithub();
  server = await startTestServer();
  // Where jobs reach it, known once it listens.
  server.deps.publicUrl = server.url;
  const repo = createRepo();
  sha = repo.commit({ ".circleci/config.yml": SETUP });
  projectId = (
    (await (
      await server.api("/api/v1/projects", { method: "POST", json: { name: "dynamic", repo_url: repo.bare } })
    ).json()) as { id: string }
  ).id;
  const forge = {
    kind: "github",
    api_url: `${github.url}/api/v3/`,
    repo: "acme/dynamic",
    token: "ghp_fake0123456789",
  };
  expect(
    (await server.api(`/api/v1/projects/${projectId}`, { method: "PATCH", json: { forge } })).status,
  ).toBe(200);
  const { token } = (await (
    await server.api("/api/v1/builders/registration-tokens", { method: "POST" })
  ).json()) as { token: string };
  const r = await new ServerClient(server.url).register({
    registration_token: token,
    name: "stand-in",
    public_key: b64(keys.publicKey),
    slots: 1,
    driver: "process",
  });
  builder = new ServerClient(server.url, r.token);
}, 30_000);
afterAll(async () => {
  await server.stop();
  github.stop();
});

describe("a setup pipeline continued through the API", () => {
  let pipeline: PipelineView;
  let setup: { payload: JobPayload; key?: string };

  beforeAll(async () => {
    pipeline = await trigger();
    setup = await lease(pipeline.id);
  });
  /**
   * A setup pipeline of the test's own, its setup job ended after: the refusals below need a key no
   * other test has used, in whatever order they run.
   */
  const ownSetup = async (
    run: (own: { pipeline: PipelineView; setup: { payload: JobPayload; key?: string } }) => Promise<void>,
  ) => {
    const ownPipeline = await trigger();
    const own = { pipeline: ownPipeline, setup: await lease(ownPipeline.id) };
    try {
      await run(own);
    } finally {
      await builder.finish(own.setup.payload.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
    }
  };

  test("the setup job gets its key sealed with its secrets, the continue URL in its environment", async () => {
    expect(setup.payload.job.name).toBe("generate");
    expect(setup.key).toStartWith("cairn_cont_");
    expect(JSON.stringify(setup.payload)).not.toContain(setup.key!);
    expect(setup.payload.environment.CAIRN_CONTINUATION_URL).toBe(`${server.url}/api/v2/pipeline/continue`);
    expect(setup.payload.environment.CIRCLECI_DOMAIN).toBe(new URL(server.url).host);
    // Only its hash is kept.
    const rows = await server.deps.db
      .select()
      .from(continuationKeys)
      .where(eq(continuationKeys.pipelineId, pipeline.id));
    expect(rows.length).toBe(1);
    expect(JSON.stringify(rows)).not.toContain(setup.key!);
  });

  test("an unknown key is 404, and says nothing of the key", async () => {
    const res = await continueWith({ "continuation-key": "cairn_cont_nope", configuration: CONTINUATION });
    expect(res.status).toBe(404);
    const error = await errorOf(res);
    expect(error.code).toBe("continuation_key_unknown");
    expect(JSON.stringify(error)).not.toContain("cairn_cont_nope");
  });

  test("a body without a configuration is 400", () =>
    ownSetup(async ({ setup }) => {
      const res = await continueWith({ "continuation-key": setup.key });
      expect(res.status).toBe(400);
      expect((await errorOf(res)).code).toBe("invalid_body");
    }));

  test("an invalid config is 400 with every problem, shown on the pipeline; the key stays usable", () =>
    ownSetup(async ({ pipeline, setup }) => {
      const bad = CONTINUATION.replace("jobs: [build]", "jobs: [biuld]");
      const res = await continueWith({
        "continuation-key": setup.key,
        configuration: `setup: true\n${bad}`,
      });
      expect(res.status).toBe(400);
      const error = await errorOf(res);
      expect(error.code).toBe("config_invalid");
      const problems = (error.details as { errors: { message: string }[] }).errors.map((e) => e.message);
      expect(problems.some((m) => m.includes("cannot itself be a setup config"))).toBe(true);
      expect(problems.some((m) => m.includes("biuld"))).toBe(true);
      const view = await pipelineView(pipeline.id);
      expect(view.config_errors.map((e) => e.message)).toEqual(problems);
      expect(view.config_errors[0].file).toBe("continuation");
      // The key was not spent: a used one is 409 `continuation_key_used` before the config is read.
      const again = await continueWith({
        "continuation-key": setup.key,
        configuration: CONTINUATION,
        parameters: { undeclared: "x" },
      });
      expect(again.status).toBe(400);
      expect((await errorOf(again)).code).toBe("config_invalid");
    }));

  test("a continuation's orbs are resolved from the registry: one it lacks is named", () =>
    ownSetup(async ({ setup }) => {
      const withOrb = CONTINUATION.replace(
        "parameters:",
        "orbs:\n  node: circleci/node@5.0.0\nparameters:",
      ).replace("      - run: echo building", "      - node/install-packages\n      - run: echo building");
      const res = await continueWith({ "continuation-key": setup.key, configuration: withOrb });
      expect(res.status).toBe(400);
      const error = await errorOf(res);
      expect(error.code).toBe("config_invalid");
      expect(error.message).toContain("circleci/node");
      expect(error.message).toContain("cairn orb");
    }));

  test("a parameter the continuation does not declare is 400", () =>
    ownSetup(async ({ setup }) => {
      const res = await continueWith({
        "continuation-key": setup.key,
        configuration: CONTINUATION,
        parameters: { undeclared: "x" },
      });
      expect(res.status).toBe(400);
      expect((await errorOf(res)).code).toBe("config_invalid");
    }));

  test("the key continues the pipeline once: the workflows join it, with the parameters; the continued job runs there and gets no key", async () => {
    const res = await continueWith({
      "continuation-key": setup.key,
      configuration: CONTINUATION,
      parameters: { target: "docs" },
    });
    expect(res.status).toBe(200);
    // The answer is what the OpenAPI document says it is.
    const body = PipelineContinued.parse(await res.json());
    expect(body.pipeline).toEqual({ id: pipeline.id, number: pipeline.number });
    expect(body.jobs.map((j) => j.name)).toEqual(["build"]);
    const view = await pipelineView(pipeline.id);
    expect(view.workflows.map((w) => w.name)).toEqual(["setup", "continued"]);
    expect(view.config_errors).toEqual([]);
    await github.waitFor((r) => statusesOf(r, "cairn/continued").includes("pending"));

    const again = await continueWith({ "continuation-key": setup.key, configuration: CONTINUATION });
    expect(again.status).toBe(409);
    expect((await errorOf(again)).code).toBe("continuation_key_used");
    // Before the config is read: what tells an unspent key in the refusals above.
    const spent = await continueWith({
      "continuation-key": setup.key,
      configuration: CONTINUATION,
      parameters: { undeclared: "x" },
    });
    expect((await errorOf(spent)).code).toBe("continuation_key_used");

    // The continued job runs in the same pipeline with the parameter's value and gets no key.
    await builder.finish(setup.payload.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
    const next = await lease(pipeline.id);
    expect(next.payload.job.name).toBe("build");
    expect(next.payload.pipeline).toEqual({ id: pipeline.id, number: pipeline.number });
    expect(JSON.stringify(next.payload.steps)).toContain("echo building docs");
    expect(next.key).toBeUndefined();
    expect(next.payload.environment.CAIRN_CONTINUATION_URL).toBeUndefined();
    // The pipeline waits for the continued workflow, not just the setup one.
    expect((await pipelineView(pipeline.id)).finished_at).toBeNull();
    await builder.finish(next.payload.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
    for (let i = 0; i < 100 && (await pipelineView(pipeline.id)).status !== "success"; i++)
      await Bun.sleep(50);
    expect((await pipelineView(pipeline.id)).status).toBe("success");
    await github.waitFor((r) => statusesOf(r, "cairn/continued").includes("success"));
    expect(statusesOf(github.requests, "cairn/continued")).toEqual(["pending", "success"]);
  });
});

test("a setup pipeline that never continues ends with its setup workflow; its key then no longer works", async () => {
  const pipeline = await trigger();
  const setup = await lease(pipeline.id);
  await builder.finish(setup.payload.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
  for (let i = 0; i < 100 && (await pipelineView(pipeline.id)).status !== "success"; i++) await Bun.sleep(50);
  const view = await pipelineView(pipeline.id);
  expect(view.status).toBe("success");
  expect(view.workflows.map((w) => w.name)).toEqual(["setup"]);
  const res = await continueWith({ "continuation-key": setup.key, configuration: CONTINUATION });
  expect(res.status).toBe(409);
  expect((await errorOf(res)).code).toBe("continuation_key_expired");
});
