// Sealed delivery of a job's secrets, over a real socket and a real libSQL file, with a stand-in
// builder speaking the real protocol: the acquire response carries the project's and the contexts'
// variables sealed to that builder's key only; a tampered, misplaced or missing secret fails the job
// loudly, naming the row, instead of running it with garbage.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import nacl from "tweetnacl";
import { ServerClient } from "../builder/client.ts";
import { openJobSecrets } from "../builder/job-runner.ts";
import { type JobPayload, openSealedSecrets, PROTOCOL_VERSION } from "../protocol/index.ts";
import { type Db, openDb } from "../server/db/client.ts";
import { contexts, projectEnvVars } from "../server/db/schema.ts";
import { MASK } from "../wasm/index.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const CONFIG = (context: string) => `version: 2.1
jobs:
  deploy:
    docker:
      - image: cimg/base:stable
    environment:
      FROM_CONFIG: config-value
    steps:
      - run: echo deploying
workflows:
  main:
    jobs:
      - deploy:
          context: [${context}]
`;

const SECRETS = {
  API_KEY: "project-api-key-0123456789",
  SHARED: "project-shared-value",
  DEPLOY_TOKEN: "context-deploy-token-abcdef",
  CONTEXT_SHARED: "context-wins-over-project",
};

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

let server: TestServer;
let db: Db;
let closeDb: () => void;
let projectId: string;
const keys = nacl.box.keyPair();
const otherKeys = nacl.box.keyPair();
let builder: ServerClient;

async function register(publicKey: Uint8Array): Promise<ServerClient> {
  const { token } = (await (
    await server.api("/api/v1/builders/registration-tokens", { method: "POST" })
  ).json()) as { token: string };
  const r = await new ServerClient(server.url).register({
    registration_token: token,
    name: "stand-in",
    public_key: b64(publicKey),
    slots: 1,
    driver: "process",
  });
  return new ServerClient(server.url, r.token);
}

async function pipelineOn(branch: string): Promise<string> {
  const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
    method: "POST",
    json: { branch },
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { jobs: { id: string }[] }).jobs[0].id;
}

/** Acquires for a short while: a job failed at grant is never handed out, so this may return null. */
async function acquireBriefly(client: ServerClient, ms = 1500): Promise<JobPayload | null> {
  try {
    return await client.acquire({ free_slots: 1, driver: "process" }, AbortSignal.timeout(ms));
  } catch (err) {
    if ((err as Error).name === "TimeoutError" || (err as Error).name === "AbortError") return null;
    throw err;
  }
}

async function jobState(jobId: string) {
  return (await (await server.api(`/api/v1/jobs/${jobId}`)).json()) as {
    status: string;
    failure_reason: string | null;
  };
}

beforeAll(async () => {
  server = await startTestServer({ env: { CAIRN_TEMPLATES: '{"cimg/*":"cairn-base"}' } });
  ({ db, close: closeDb } = await openDb(`file:${join(server.dataDir, "cairn.db")}`));
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG("prod") });
  repo.commit({ ".circleci/config.yml": CONFIG("no-such-context") }, "missing", "missing-context");
  projectId = (
    (await (
      await server.api("/api/v1/projects", {
        method: "POST",
        json: { name: "delivery", repo_url: repo.bare },
      })
    ).json()) as { id: string }
  ).id;
  const put = (path: string, name: string, value: string) =>
    server.api(path, { method: "POST", json: { name, value } });
  await put(`/api/v1/projects/${projectId}/envvars`, "API_KEY", SECRETS.API_KEY);
  await put(`/api/v1/projects/${projectId}/envvars`, "SHARED", SECRETS.SHARED);
  const ctx = (await (
    await server.api("/api/v1/contexts", { method: "POST", json: { name: "prod" } })
  ).json()) as { id: string };
  await put(`/api/v1/contexts/${ctx.id}/envvars`, "DEPLOY_TOKEN", SECRETS.DEPLOY_TOKEN);
  await put(`/api/v1/contexts/${ctx.id}/envvars`, "SHARED", SECRETS.CONTEXT_SHARED);
  builder = await register(keys.publicKey);
}, 30_000);
afterAll(async () => {
  closeDb();
  await server.stop();
});

describe("a job payload as it travels", () => {
  // Each test has a job of its own, acquired as it crossed the socket, and finished after it.
  let jobId: string;
  let payload: JobPayload;
  let wire: string;

  beforeEach(async () => {
    jobId = await pipelineOn("main");
    // Capture the acquire response exactly as it crossed the socket.
    const { token } = builder as unknown as { token: string };
    const res = await fetch(`${server.url}/api/v1/builder/acquire`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        "Cairn-Protocol": String(PROTOCOL_VERSION),
      },
      body: JSON.stringify({ free_slots: 1, driver: "process" }),
    });
    expect(res.status).toBe(200);
    wire = await res.text();
    payload = JSON.parse(wire) as JobPayload;
  });
  afterEach(async () => {
    // Unless the test finished it: no job of this one's is left for the next test's builder.
    await builder
      .finish(payload.job.id, { status: "success", unsandboxed: true, log_bytes: 0 })
      .catch(() => {});
  });

  test("carries the secrets sealed, never in clear", () => {
    expect(payload.job.id).toBe(jobId);
    expect(payload.secrets?.recipient).toBe(b64(keys.publicKey));
    for (const value of Object.values(SECRETS)) expect(wire).not.toContain(value);
    for (const name of ["API_KEY", "DEPLOY_TOKEN"]) expect(wire).not.toContain(name);
  });

  test("opens with this builder's private key: project vars, then the context's (which win)", () => {
    // The job's OIDC identity tokens travel with its secrets (tests/oidc.test.ts verifies them).
    const { CIRCLE_OIDC_TOKEN, CIRCLE_OIDC_TOKEN_V2, ...vars } = openSealedSecrets(
      payload.secrets!,
      b64(keys.secretKey),
      payload.job.id,
    );
    expect(vars).toEqual({
      API_KEY: SECRETS.API_KEY,
      SHARED: SECRETS.CONTEXT_SHARED,
      DEPLOY_TOKEN: SECRETS.DEPLOY_TOKEN,
    });
    expect([CIRCLE_OIDC_TOKEN, CIRCLE_OIDC_TOKEN_V2].every((t) => t.split(".").length === 3)).toBe(true);
    // The builder's runner does the same with its key.
    expect(openJobSecrets({ boxSecretKey: b64(keys.secretKey) }, payload).API_KEY).toBe(SECRETS.API_KEY);
    expect(payload.environment.FROM_CONFIG).toBe("config-value");
  });

  test("cannot be opened without that key: another builder's key, no key, another job, altered bytes", () => {
    expect(() => openSealedSecrets(payload.secrets!, b64(otherKeys.secretKey), payload.job.id)).toThrow(
      expect.objectContaining({ code: "sealed_secrets_wrong_builder" }),
    );
    // Even with the recipient field rewritten to the other key, the box does not open.
    const forged = { ...payload.secrets!, recipient: b64(otherKeys.publicKey) };
    expect(() => openSealedSecrets(forged, b64(otherKeys.secretKey), payload.job.id)).toThrow(
      expect.objectContaining({ code: "sealed_secrets_corrupt" }),
    );
    expect(() => openJobSecrets({}, payload)).toThrow(/no box key/);
    expect(() => openSealedSecrets(payload.secrets!, b64(keys.secretKey), "another-job")).toThrow(
      expect.objectContaining({ code: "sealed_secrets_misplaced" }),
    );
    const ct = Buffer.from(payload.secrets!.ciphertext, "base64");
    ct[5] ^= 1;
    expect(() =>
      openSealedSecrets({ ...payload.secrets!, ciphertext: b64(ct) }, b64(keys.secretKey), payload.job.id),
    ).toThrow(expect.objectContaining({ code: "sealed_secrets_corrupt" }));
    expect(() => openJobSecrets({ boxSecretKey: b64(otherKeys.secretKey) }, payload)).toThrow(
      /cannot open this job's secrets/,
    );
  });

  test("finishes", async () => {
    expect(
      (await builder.finish(payload.job.id, { status: "success", unsandboxed: true, log_bytes: 0 })).ok,
    ).toBe(true);
  });
});

describe("a secret that cannot be delivered fails the job loudly, naming it", () => {
  const apiKeyRow = () =>
    db.query.projectEnvVars.findFirst({
      where: and(eq(projectEnvVars.projectId, projectId), eq(projectEnvVars.name, "API_KEY")),
    });

  async function withEnvelope(envelope: string, check: (jobId: string) => Promise<void>) {
    const { id, envelope: original } = (await apiKeyRow())!;
    await db.update(projectEnvVars).set({ envelope }).where(eq(projectEnvVars.id, id));
    try {
      const jobId = await pipelineOn("main");
      expect(await acquireBriefly(builder)).toBeNull();
      await check(jobId);
    } finally {
      await db.update(projectEnvVars).set({ envelope: original }).where(eq(projectEnvVars.id, id));
    }
  }

  test("a tampered envelope", async () => {
    const original = (await apiKeyRow())!.envelope;
    const parts = original.split(":");
    const box = Buffer.from(parts[3], "base64");
    box[box.length - 1] ^= 0x40;
    await withEnvelope([...parts.slice(0, 3), b64(box)].join(":"), async (jobId) => {
      const job = await jobState(jobId);
      expect(job.status).toBe("failed");
      expect(job.failure_reason).toContain(`project_env_vars project=${projectId} name=API_KEY`);
      expect(job.failure_reason).toContain("does not authenticate");
    });
  });

  test("an envelope copied from another row", async () => {
    const shared = await db.query.projectEnvVars.findFirst({
      where: and(eq(projectEnvVars.projectId, projectId), eq(projectEnvVars.name, "SHARED")),
    });
    await withEnvelope(shared!.envelope, async (jobId) => {
      const job = await jobState(jobId);
      expect(job.status).toBe("failed");
      expect(job.failure_reason).toContain("name=API_KEY");
      expect(job.failure_reason).not.toContain(SECRETS.SHARED);
    });
  });

  test("a context that does not exist", async () => {
    const jobId = await pipelineOn("missing-context");
    expect(await acquireBriefly(builder)).toBeNull();
    const job = await jobState(jobId);
    expect(job.status).toBe("failed");
    expect(job.failure_reason).toContain("no-such-context");
  });

  test("after repair, the next job is delivered again", async () => {
    expect(await db.query.contexts.findFirst({ where: eq(contexts.name, "prod") })).toBeDefined();
    await pipelineOn("main");
    const payload = await acquireBriefly(builder, 5000);
    expect(payload).not.toBeNull();
    expect(openSealedSecrets(payload!.secrets!, b64(keys.secretKey), payload!.job.id).API_KEY).toBe(
      SECRETS.API_KEY,
    );
    await builder.finish(payload!.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
  }, 15_000);
});

test("a variable changed while its job runs: the log masks the value the job got, and the new one", async () => {
  await pipelineOn("main");
  const payload = (await acquireBriefly(builder, 5000))!;
  const jobId = payload.job.id;
  const old = openSealedSecrets(payload.secrets!, b64(keys.secretKey), jobId).API_KEY;
  const next = "rotated-while-running-42";
  const put = await server.api(`/api/v1/projects/${projectId}/envvars`, {
    method: "POST",
    json: { name: "API_KEY", value: next },
  });
  expect(put.status).toBe(201);
  try {
    await builder.step(jobId, { index: 0, name: "echo", status: "running", log_offset: 0 });
    const bytes = new TextEncoder().encode(`old=${old}\nnew=${next}\n`);
    expect((await builder.log(jobId, 0, bytes)).accepted).toBe(true);
    await builder.step(jobId, {
      index: 0,
      name: "echo",
      status: "success",
      exit_code: 0,
      log_offset: bytes.length,
    });
    await builder.finish(jobId, { status: "success", unsandboxed: true, log_bytes: bytes.length });
    const text = await (await server.api(`/api/v1/jobs/${jobId}/log?format=text`)).text();
    expect(text).toContain(`old=${MASK}`);
    expect(text).toContain(`new=${MASK}`);
    expect(text).not.toContain(old);
    expect(text).not.toContain(next);
  } finally {
    await server.api(`/api/v1/projects/${projectId}/envvars`, {
      method: "POST",
      json: { name: "API_KEY", value: SECRETS.API_KEY },
    });
  }
}, 15_000);
