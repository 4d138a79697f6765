// Real answers of the main routes against the schemas the OpenAPI document gives for them, over a
// real socket: a field a presenter adds without a line in server/openapi/schemas (the document's
// objects are closed), a wrong type, or a status the document does not list fails here.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { contentRange, PROTOCOL_HEADER, PROTOCOL_VERSION } from "../protocol/index.ts";
import { createRepo } from "./support/git.ts";
import { caller, type Json, ResponseChecker } from "./support/openapi.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;
let doc: Json;
let checker: ResponseChecker;
const problems: string[] = [];
const CONFIG =
  "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: echo hi\nworkflows:\n  main:\n    jobs: [build]\n";
let call: ReturnType<typeof caller>;

/** An OpenSSH ed25519 public key line with a random key. */
function ed25519Line(comment: string): string {
  const type = new TextEncoder().encode("ssh-ed25519");
  const blob = new Uint8Array(4 + type.length + 4 + 32);
  const view = new DataView(blob.buffer);
  view.setUint32(0, type.length);
  blob.set(type, 4);
  view.setUint32(4 + type.length, 32);
  blob.set(crypto.getRandomValues(new Uint8Array(32)), 8 + type.length);
  return `ssh-ed25519 ${Buffer.from(blob).toString("base64")} ${comment}`;
}

// Each test has a server (and so a checker) of its own.
beforeEach(async () => {
  server = await startTestServer();
  doc = await (await server.api("/api/v1/openapi.json")).json();
  checker = new ResponseChecker(doc);
  problems.length = 0;
  call = caller(server, doc, checker, problems);
});
afterEach(() => server.stop());

describe("answers match the document", () => {
  let ids: Record<string, string> = {};
  beforeEach(() => {
    ids = {};
  });

  /** The project the steps use: the first steps make it; others, on their own, make one like it. */
  async function project(): Promise<{ id: string }> {
    if (!ids.project) {
      const repo = createRepo();
      repo.commit({ ".circleci/config.yml": CONFIG });
      const made = await call("createProject", {}, { json: { name: "shapes", repo_url: repo.bare } });
      expect(made.status).toBe(201);
      ids.project = made.json.id;
    }
    return { id: ids.project };
  }

  async function serverSteps(): Promise<void> {
    await call("getHealth");
    const repo = createRepo();
    repo.commit({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: echo hi\nworkflows:\n  main:\n    jobs: [build]\n",
    });
    const made = await call("createProject", {}, { json: { name: "shapes", repo_url: repo.bare } });
    expect(made.status).toBe(201);
    ids.project = made.json.id;
    const p = { id: ids.project };
    await call("createProject", {}, { json: { name: "shapes", repo_url: repo.bare } }); // 409
    await call("listProjects", {}, { query: "limit=1" });
    await call("getProject", p);
    await call("getProject", { id: "no-such-project" }); // 404
    await call("updateProject", p, {
      json: { branch_filters: ["main", "/^release-/"], max_concurrent_jobs: 3, known_hosts: null },
    });
    await call("followProject", p);
    await call("unfollowProject", p);
    await call("rotateWebhookSecret", p);
    expect((await call("createDeployKey", p)).status).toBe(201);
    await call("getDeployKey", p);
    await call("deleteDeployKey", p);
    expect(problems).toEqual([]);
  }
  test("server, projects, settings, deploy keys", serverSteps);

  async function accountSteps(): Promise<void> {
    const p = await project();
    await call("setProjectEnvVar", p, { json: { name: "API_KEY", value: "s3cret-value" } });
    await call("setProjectEnvVar", p, { json: { name: "TINY", value: "ab" } }); // with a warning
    await call("listProjectEnvVars", p);
    const ctx = await call("createContext", {}, { json: { name: "shared" } });
    await call("listContexts");
    await call("getContext", { id: ctx.json.id });
    await call("setContextEnvVar", { id: ctx.json.id }, { json: { name: "TOKEN_X", value: "value-1234" } });
    await call("listContextEnvVars", { id: ctx.json.id });
    const user = await call("createUser", {}, { json: { login: "ada", password: "correct horse battery" } });
    expect(user.status).toBe(201);
    await call("updateUser", { id: user.json.id }, { json: { github_login: "ada-gh" } });
    await call("listUsers");
    await call("getCurrentUser");
    await call("addMember", p, { json: { user_id: user.json.id, role: "write" } });
    await call("addMember", p, { json: { user_id: user.json.id, role: "read" } }); // 200: changed
    await call("listMembers", p);
    const token = await call("createToken", {}, { json: { name: "ci", scopes: ["read"] } });
    await call("listTokens");
    const key = await call("addSshKey", {}, { json: { public_key: ed25519Line("ada@laptop") } });
    await call("listSshKeys");
    await call("removeSshKey", { id: key.json.id });
    await call("getSignInMethods");
    const session = await call("createSession", {}, { json: { token: token.json.token } });
    expect(session.status).toBe(201);
    await call("revokeToken", { id: token.json.id });
    await call("removeMember", { id: p.id, user_id: user.json.id });
    await call("deleteContextEnvVar", { id: ctx.json.id, name: "TOKEN_X" });
    await call("deleteContext", { id: ctx.json.id });
    expect(problems).toEqual([]);
  }
  test("env vars, contexts, users, members, tokens, SSH keys, session", accountSteps);

  async function pipelineSteps(): Promise<void> {
    const p = await project();
    const pl = await call("triggerPipeline", p, {
      json: { branch: "main" },
      headers: { "idempotency-key": "k1" },
    });
    expect(pl.status).toBe(201);
    await call("triggerPipeline", p, { json: { branch: "main" }, headers: { "idempotency-key": "k1" } }); // replay
    await call("triggerPipeline", p, { json: { branch: "no-such-branch" } }); // 201, then `error`
    await call("triggerPipeline", p, { json: { branch: "main", tag: "v1" } }); // 400
    await call("listPipelines", p);
    await call("getPipeline", { id: pl.json.id });
    const job = { id: pl.json.jobs[0].id as string };
    await call("getJob", job);

    // A builder takes the job, logs a line, reports a step and finishes.
    const reg = await call("createRegistrationToken");
    const protocol = { [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) };
    const builder = await call(
      "registerBuilder",
      {},
      {
        headers: protocol,
        json: {
          registration_token: reg.json.token,
          name: "shapes-builder",
          public_key: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"),
          driver: "process",
        },
      },
    );
    const as = { ...protocol, authorization: `Bearer ${builder.json.token}` };
    const lease = await call("acquireJob", {}, { headers: as, json: { free_slots: 1, driver: "process" } });
    expect(lease.json.job.id).toBe(job.id);
    await call("heartbeat", job, { headers: as });
    await call("reportStep", job, {
      headers: as,
      json: { index: 0, name: "hi", status: "running", log_offset: 0 },
    });
    const bytes = "\x1b[32mhi\x1b[0m\n";
    await call("appendLog", job, {
      headers: { ...as, "content-range": contentRange(0, bytes.length) },
      body: bytes,
    });
    await call("reportStep", job, {
      headers: as,
      json: { index: 0, name: "hi", status: "success", exit_code: 0, log_offset: bytes.length },
    });
    await call("restoreCache", job, { headers: as, json: { keys: ["none-yet"] } }); // 404 cache_miss
    await call("saveCache", job, { headers: as, json: { key: "deps-1" } });
    await call("uploadArtifact", job, { headers: as, json: { path: "out/report.txt", size: 3 } });
    await call("attachWorkspace", job, { headers: as });
    await call("finishJob", job, {
      headers: as,
      json: { status: "success", unsandboxed: true, log_bytes: bytes.length },
    });
    await call("getJobLog", job);
    await call("listArtifacts", job);
    await call("getTestResults", job);
    await call("getJob", job);
    await call("cancelJob", job); // 200: already finished
    await call("rerunJob", job, { json: {} });
    await call("rerunWorkflow", { id: pl.json.workflows[0].id }, { json: { from_failed: true } });
    await call("approveJob", job); // 409: not an approval job
    await call("listBuilders");
    await call("revokeBuilder", { id: builder.json.builder_id });
    await call("listAuditEvents", {}, { query: "limit=20" });
    expect(problems).toEqual([]);
  }
  test("pipelines, jobs, logs and the builder protocol", pipelineSteps);

  async function scheduleSteps(): Promise<void> {
    const p = await project();
    const made = await call("createSchedule", p, {
      json: { name: "nightly", timetable: { cron: "0 3 * * *" }, parameters: { x: 1 } },
    });
    expect(made.status).toBe(201);
    const s = { id: p.id, schedule: made.json.id };
    await call("createSchedule", p, { json: { name: "nightly", timetable: { cron: "0 3 * * *" } } }); // 409
    await call("createSchedule", p, { json: { name: "bad", timetable: { cron: "0 3" } } }); // 400
    await call("listSchedules", p);
    await call("getSchedule", s);
    await call("updateSchedule", s, {
      json: { timetable: { per_hour: 2, hours_of_day: [1], days_of_month: [1, 15] } },
    });
    await call("deleteSchedule", s);
    await call("getSchedule", s); // 404
    expect(problems).toEqual([]);
  }
  test("schedules", scheduleSteps);

  test("the main operations were checked against a JSON schema", async () => {
    // The steps of the tests above, on this test's own server.
    await serverSteps();
    await accountSteps();
    await pipelineSteps();
    await scheduleSteps();
    const main = [
      "createProject",
      "listProjects",
      "getProject",
      "updateProject",
      "triggerPipeline",
      "listPipelines",
      "getPipeline",
      "getJob",
      "getJobLog",
      "listArtifacts",
      "getTestResults",
      "createUser",
      "listUsers",
      "createToken",
      "listTokens",
      "createSession",
      "listAuditEvents",
      "listBuilders",
      "registerBuilder",
      "acquireJob",
      "heartbeat",
      "appendLog",
      "finishJob",
    ];
    expect(main.filter((id) => !checker.seen.has(id))).toEqual([]);
    expect(checker.seen.size).toBeGreaterThan(45);
  });
});
