// Job identity tokens end to end: a stand-in builder speaking the real protocol acquires a job; the
// tokens arrive sealed with its secrets; a standard JOSE library (jose) verifies them against the
// server's own discovery document and JWKS over a real socket, and reads the job's claims.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRemoteJWKSet, jwtVerify } from "jose";
import nacl from "tweetnacl";
import { ServerClient } from "../builder/client.ts";
import { type JobPayload, openSealedSecrets, PROTOCOL_VERSION } from "../protocol/index.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const CONFIG = `version: 2.1
jobs:
  deploy:
    machine: true
    steps:
      - run: echo deploying
workflows:
  main:
    jobs:
      - deploy:
          context: [aws]
`;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
let server: TestServer;
let payload: JobPayload;
let raw: string;
let tokens: Record<string, string>;
const keys = nacl.box.keyPair();
const ids: Record<string, string> = {};

beforeAll(async () => {
  server = await startTestServer();
  // The issuer is where the discovery document is served: known only once the server listens.
  server.deps.publicUrl = server.url;
  const repo = createRepo();
  ids.sha = repo.commit({ ".circleci/config.yml": CONFIG });
  const p = await (
    await server.api("/api/v1/projects", { method: "POST", json: { name: "cloudy", repo_url: repo.bare } })
  ).json();
  ids.project = p.id;
  ids.context = (
    await (await server.api("/api/v1/contexts", { method: "POST", json: { name: "aws" } })).json()
  ).id;
  const pl = await (
    await server.api(`/api/v1/projects/${ids.project}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    })
  ).json();
  ids.pipeline = pl.id;
  ids.workflow = pl.workflows[0].id;
  ids.job = pl.jobs[0].id;
  const { token } = await (
    await server.api("/api/v1/builders/registration-tokens", { method: "POST" })
  ).json();
  const r = await new ServerClient(server.url).register({
    registration_token: token,
    name: "stand-in",
    public_key: b64(keys.publicKey),
    slots: 1,
    driver: "process",
  });
  const builder = new ServerClient(server.url, r.token);
  // The acquire response exactly as it crossed the socket.
  const res = await fetch(`${server.url}/api/v1/builder/acquire`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${r.token}`,
      "content-type": "application/json",
      "cairn-protocol": String(PROTOCOL_VERSION),
    },
    body: JSON.stringify({ free_slots: 1, driver: "process" }),
  });
  raw = await res.text();
  payload = JSON.parse(raw) as JobPayload;
  tokens = openSealedSecrets(payload.secrets!, b64(keys.secretKey), payload.job.id);
  await builder.finish(payload.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
}, 60_000);
afterAll(() => server.stop());

describe("job identity tokens", () => {
  test("travel sealed to the builder, never in plaintext", () => {
    expect(payload.job.id).toBe(ids.job);
    expect(Object.keys(tokens)).toEqual(
      expect.arrayContaining(["CIRCLE_OIDC_TOKEN", "CIRCLE_OIDC_TOKEN_V2"]),
    );
    expect(raw).not.toContain(tokens.CIRCLE_OIDC_TOKEN);
    expect(raw).not.toContain(tokens.CIRCLE_OIDC_TOKEN_V2.split(".")[1]);
  });

  test("verify with jose against the server's discovery document and JWKS, and carry the job's claims", async () => {
    const discovery = await (await fetch(`${server.url}/.well-known/openid-configuration`)).json();
    expect(discovery.issuer).toBe(server.url);
    const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
    const v1 = await jwtVerify(tokens.CIRCLE_OIDC_TOKEN, jwks, {
      issuer: discovery.issuer,
      audience: "cairn",
      algorithms: discovery.id_token_signing_alg_values_supported,
    });
    expect(v1.payload).toMatchObject({
      sub: `project/${ids.project}`,
      project_id: ids.project,
      project_name: "cloudy",
      pipeline_id: ids.pipeline,
      pipeline_number: 1,
      workflow_id: ids.workflow,
      job_id: ids.job,
      job_name: "deploy",
      branch: "main",
      tag: null,
      ref: "refs/heads/main",
      sha: ids.sha,
      context_ids: [ids.context],
      context_names: ["aws"],
    });
    expect(v1.payload.exp! - v1.payload.iat!).toBe(3600);
    const v2 = await jwtVerify(tokens.CIRCLE_OIDC_TOKEN_V2, jwks, {
      issuer: discovery.issuer,
      audience: "cairn",
    });
    expect(v2.payload.sub).toBe(`project/${ids.project}/ref/refs/heads/main`);
    expect(v2.payload.jti).not.toBe(v1.payload.jti);
  });

  test("a token signed by another key, or for another audience, is refused", async () => {
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    await expect(
      jwtVerify(tokens.CIRCLE_OIDC_TOKEN, jwks, { issuer: server.url, audience: "someone-else" }),
    ).rejects.toThrow();
    const [h, , s] = tokens.CIRCLE_OIDC_TOKEN.split(".");
    const body = Buffer.from(
      JSON.stringify({ sub: "project/other", iss: server.url, aud: "cairn" }),
    ).toString("base64url");
    await expect(jwtVerify(`${h}.${body}.${s}`, jwks)).rejects.toThrow();
  });
});
