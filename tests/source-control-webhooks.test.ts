// GitHub and generic webhooks against a real server (real socket, real libSQL file) and a real git
// repository, driven by the corpus's real GitHub payloads pointed at that repository's commits.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { signGeneric } from "../server/forge/signature.ts";
import { corpusPayload, deliver, deliverGeneric, pullRequestPayload, pushPayload } from "./support/forge.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo build
  test:
    machine: true
    steps:
      - run: echo test
  deploy:
    machine: true
    steps:
      - run: echo deploy
  publish:
    machine: true
    steps:
      - run: echo publish
workflows:
  main:
    jobs:
      - build
      - test:
          requires: [build]
      - hold:
          type: approval
          requires: [test]
          filters:
            branches:
              only: main
      - deploy:
          requires: [hold]
          filters:
            branches:
              only: main
  release:
    jobs:
      - publish:
          filters:
            tags:
              only: /^v.*/
            branches:
              ignore: /.*/
`;

let server: TestServer;
let repo: TestRepo;
let projectId: string;
let secret: string;
let mainSha: string;
let featureSha: string;

interface PipelineJson {
  id: string;
  sha: string;
  branch: string | null;
  tag: string | null;
  trigger: string;
  metadata: Record<string, unknown> | null;
  jobs: { id: string; name: string; status: string; requires: string[]; approval?: string }[];
}

const pipelinesOf = async (id = projectId): Promise<PipelineJson[]> =>
  ((await (await server.api(`/api/v1/projects/${id}/pipelines`)).json()) as { items: PipelineJson[] }).items;

beforeAll(async () => {
  server = await startTestServer();
  repo = createRepo();
  mainSha = repo.commit({ ".circleci/config.yml": CONFIG }, "add config");
  featureSha = repo.commit({ "feature.txt": "x\n" }, "feature work", "feature/login");
  const res = await server.api("/api/v1/projects", {
    method: "POST",
    json: { name: "hooks", repo_url: repo.bare },
  });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { id: string; webhook_secret: string };
  projectId = body.id;
  secret = body.webhook_secret;
}, 30_000);
afterAll(() => server.stop());

describe("the webhook secret", () => {
  test("is shown once at creation; the project shows the webhook URL, never the secret", async () => {
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    const res = await server.api(`/api/v1/projects/${projectId}`);
    const text = await res.text();
    expect(text).not.toContain(secret);
    const p = JSON.parse(text);
    expect(p.webhook_url).toBe(`${server.url}/api/v1/hooks/github/${projectId}`);
    expect(p.generic_webhook_url).toBe(`${server.url}/api/v1/hooks/generic/${projectId}`);
    expect(p.webhook_secret_set).toBe(true);
    expect(p.webhook_secret).toBeUndefined();
  });
});

describe("signatures", () => {
  test("a wrong or missing signature is refused with 401 and writes nothing", async () => {
    // Counted from here: other tests build on this project too, in any order.
    const before = (await pipelinesOf()).length;
    const body = JSON.stringify(pushPayload("main", mainSha));
    const deliveryId = "bad-sig-delivery";
    for (const signature of [
      null,
      `sha256=${"0".repeat(64)}`,
      "sha1=abc",
      "",
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    ]) {
      const res = await deliver(server.url, projectId, secret, {
        event: "push",
        body,
        deliveryId,
        signature,
      });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("signature_invalid");
    }
    // Signed with another secret, or the body changed after signing: refused too.
    expect(
      (await deliver(server.url, projectId, "not-the-secret", { event: "push", body, deliveryId })).status,
    ).toBe(401);
    const { signBody } = await import("../server/forge/signature.ts");
    const sig = await signBody(secret, body);
    expect(
      (
        await deliver(server.url, projectId, secret, {
          event: "push",
          body: body.replace("main", "mainx"),
          deliveryId,
          signature: sig,
        })
      ).status,
    ).toBe(401);
    expect(await pipelinesOf()).toHaveLength(before);
    // Nothing was recorded either: the same delivery id, properly signed, is new and builds.
    const ok = await deliver(server.url, projectId, secret, { event: "push", body, deliveryId });
    expect(ok.status).toBe(201);
    expect(await pipelinesOf()).toHaveLength(before + 1);
  });

  test("an unknown project is 404; the generic hook checks its own header", async () => {
    expect((await deliver(server.url, "no-such-project", secret, { event: "ping", body: "{}" })).status).toBe(
      404,
    );
    const res = await fetch(`${server.url}/api/v1/hooks/generic/${projectId}`, {
      method: "POST",
      headers: { "x-hub-signature-256": "sha256=00" },
      body: JSON.stringify({ ref: "refs/heads/main", after: mainSha }),
    });
    expect(res.status).toBe(401);
  });

  test("a rotated secret replaces the old one at once", async () => {
    const rotated = await server.api(`/api/v1/projects/${projectId}/webhook-secret`, { method: "POST" });
    expect(rotated.status).toBe(201);
    const { webhook_secret: fresh } = (await rotated.json()) as { webhook_secret: string };
    expect(fresh).not.toBe(secret);
    const body = JSON.stringify(corpusPayload("ping-payload.json"));
    expect((await deliver(server.url, projectId, secret, { event: "ping", body })).status).toBe(401);
    expect((await deliver(server.url, projectId, fresh, { event: "ping", body })).status).toBe(200);
    secret = fresh;
  });
});

describe("deliveries", () => {
  test("ping answers 200", async () => {
    const res = await deliver(server.url, projectId, secret, {
      event: "ping",
      body: JSON.stringify(corpusPayload("ping-payload.json")),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("pong");
  });

  test("a replayed delivery id creates no second pipeline", async () => {
    const before = (await pipelinesOf()).length;
    const body = JSON.stringify(pushPayload("main", mainSha));
    const first = await deliver(server.url, projectId, secret, {
      event: "push",
      body,
      deliveryId: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    });
    expect(first.status).toBe(201);
    for (let i = 0; i < 3; i++) {
      const again = await deliver(server.url, projectId, secret, {
        event: "push",
        body,
        deliveryId: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
      });
      expect(again.status).toBe(200);
      expect(((await again.json()) as { status: string }).status).toBe("duplicate");
    }
    expect((await pipelinesOf()).length).toBe(before + 1);
  });

  test("concurrent replays of one delivery create one pipeline", async () => {
    const before = (await pipelinesOf()).length;
    const body = JSON.stringify(pushPayload("main", mainSha));
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        deliver(server.url, projectId, secret, { event: "push", body, deliveryId: "concurrent-1" }),
      ),
    );
    expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect((await pipelinesOf()).length).toBe(before + 1);
  });

  test("deleted refs (the corpus's tag deletion), [ci skip], [skip ci] and other events build nothing", async () => {
    const before = (await pipelinesOf()).length;
    const deleted = await deliver(server.url, projectId, secret, {
      event: "push",
      body: JSON.stringify(corpusPayload("push-payload.json")),
    });
    expect(deleted.status).toBe(202);
    expect(((await deleted.json()) as { reason: string }).reason).toContain("deleted");
    for (const message of ["docs only [ci skip]", "typo\n\n[skip ci]"]) {
      const res = await deliver(server.url, projectId, secret, {
        event: "push",
        body: JSON.stringify(pushPayload("main", mainSha, message)),
      });
      expect(res.status).toBe(202);
      expect(((await res.json()) as { status: string }).status).toBe("skipped");
    }
    for (const [event, file] of [
      ["create", "create-payload.json"],
      ["delete", "delete-payload.json"],
      ["pull_request", "pull_request-closed.payload.json"],
    ]) {
      expect(
        (await deliver(server.url, projectId, secret, { event, body: JSON.stringify(corpusPayload(file)) }))
          .status,
      ).toBe(202);
    }
    expect((await pipelinesOf()).length).toBe(before);
  });
});

describe("selective building", () => {
  test("an unfollowed project ignores webhooks until followed again", async () => {
    const before = (await pipelinesOf()).length;
    expect((await server.api(`/api/v1/projects/${projectId}/unfollow`, { method: "POST" })).status).toBe(200);
    const res = await deliver(server.url, projectId, secret, {
      event: "push",
      body: JSON.stringify(pushPayload("main", mainSha)),
    });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { reason: string }).reason).toBe("the project is not followed");
    expect((await pipelinesOf()).length).toBe(before);
    expect((await server.api(`/api/v1/projects/${projectId}/follow`, { method: "POST" })).status).toBe(200);
    expect(
      (
        await deliver(server.url, projectId, secret, {
          event: "push",
          body: JSON.stringify(pushPayload("main", mainSha)),
        })
      ).status,
    ).toBe(201);
  });

  test("branch filters: globs and /regex/; bad patterns are a 400", async () => {
    const patch = (json: unknown) => server.api(`/api/v1/projects/${projectId}`, { method: "PATCH", json });
    expect((await patch({ branch_filters: ["/(unclosed/"] })).status).toBe(400);
    expect((await patch({ nope: 1 })).status).toBe(400);
    const ok = await patch({ branch_filters: ["main", "/release\\/.*/"] });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { branch_filters: string[] }).branch_filters).toEqual([
      "main",
      "/release\\/.*/",
    ]);
    const before = (await pipelinesOf()).length;
    const res = await deliver(server.url, projectId, secret, {
      event: "push",
      body: JSON.stringify(pushPayload("feature/login", featureSha)),
    });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { reason: string }).reason).toContain("branch filters");
    expect((await pipelinesOf()).length).toBe(before);
    expect((await patch({ branch_filters: ["main", "feature/*"] })).status).toBe(200);
    expect(
      (
        await deliver(server.url, projectId, secret, {
          event: "push",
          body: JSON.stringify(pushPayload("feature/login", featureSha)),
        })
      ).status,
    ).toBe(201);
    const [latest] = await pipelinesOf();
    expect({ branch: latest.branch, sha: latest.sha }).toEqual({ branch: "feature/login", sha: featureSha });
    // Workflow filters still apply: the approval gate and deploy are for main only.
    expect(latest.jobs.map((j) => j.name)).toEqual(["build", "test"]);
    await patch({ branch_filters: [] });
  });
});

describe("what gets built", () => {
  test("a push to main plans build → test → hold (approval, pending) → deploy", async () => {
    const res = await deliver(server.url, projectId, secret, {
      event: "push",
      body: JSON.stringify(pushPayload("main", mainSha)),
    });
    expect(res.status).toBe(201);
    const { pipeline } = (await res.json()) as { pipeline: { id: string } };
    const p = (await (await server.api(`/api/v1/pipelines/${pipeline.id}`)).json()) as PipelineJson;
    expect(p.trigger).toBe("webhook");
    expect(p.metadata).toMatchObject({ source: "github", event: "push" });
    expect(p.jobs.map((j) => [j.name, j.requires, j.approval ?? null])).toEqual([
      ["build", [], null],
      ["test", ["build"], null],
      ["hold", ["test"], "pending"],
      ["deploy", ["hold"], null],
    ]);
  });

  test("a pull request (opened, synchronize, reopened) builds its head sha on its head branch", async () => {
    for (const action of ["opened", "synchronize", "reopened"]) {
      const res = await deliver(server.url, projectId, secret, {
        event: "pull_request",
        body: JSON.stringify(pullRequestPayload(action, "feature/login", featureSha)),
      });
      expect(res.status).toBe(201);
      const { pipeline } = (await res.json()) as { pipeline: { id: string } };
      const p = (await (await server.api(`/api/v1/pipelines/${pipeline.id}`)).json()) as PipelineJson;
      expect({ sha: p.sha, branch: p.branch, trigger: p.trigger }).toEqual({
        sha: featureSha,
        branch: "feature/login",
        trigger: "pull_request",
      });
      expect(p.metadata?.pull_request).toMatchObject({
        number: 2,
        head_ref: "feature/login",
        base_ref: "master",
      });
    }
  });

  test("GitHub's form encoding (payload=<JSON>) is accepted, signed over the form body", async () => {
    const body = new URLSearchParams({ payload: JSON.stringify(pushPayload("main", mainSha)) }).toString();
    const res = await deliver(server.url, projectId, secret, {
      event: "push",
      body,
      contentType: "application/x-www-form-urlencoded",
    });
    expect(res.status).toBe(201);
    const tampered = body.replace("main", "mainx");
    const { signBody } = await import("../server/forge/signature.ts");
    const bad = await deliver(server.url, projectId, secret, {
      event: "push",
      body: tampered,
      contentType: "application/x-www-form-urlencoded",
      signature: await signBody(secret, body),
    });
    expect(bad.status).toBe(401);
  });

  test("a pull request from a fork is built as pull/N and marked from_fork", async () => {
    const payload = pullRequestPayload("opened", "feature/login", featureSha);
    payload.pull_request.head.repo.full_name = "mallory/Hello-World";
    payload.pull_request.head.repo.fork = true;
    const res = await deliver(server.url, projectId, secret, {
      event: "pull_request",
      body: JSON.stringify(payload),
    });
    expect(res.status).toBe(201);
    const { pipeline } = (await res.json()) as { pipeline: { id: string } };
    const p = (await (await server.api(`/api/v1/pipelines/${pipeline.id}`)).json()) as PipelineJson & {
      from_fork: boolean;
    };
    expect(p).toMatchObject({ branch: "pull/2", sha: featureSha, trigger: "pull_request", from_fork: true });
  });

  test("a tag push builds the tag's workflow; the generic hook builds branches and tags too", async () => {
    const tagSha = repo.commit({ VERSION: "1.0.0\n" }, "release 1.0.0", "main");
    const res = await deliver(server.url, projectId, secret, {
      event: "push",
      body: JSON.stringify(pushPayload("refs/tags/v1.0.0", tagSha)),
    });
    expect(res.status).toBe(201);
    const { pipeline } = (await res.json()) as { pipeline: { id: string } };
    const p = (await (await server.api(`/api/v1/pipelines/${pipeline.id}`)).json()) as PipelineJson;
    expect({ tag: p.tag, branch: p.branch, sha: p.sha }).toEqual({
      tag: "v1.0.0",
      branch: null,
      sha: tagSha,
    });
    expect(p.jobs.map((j) => j.name)).toContain("publish");

    const generic = await deliverGeneric(
      server.url,
      projectId,
      secret,
      { ref: "refs/heads/main", before: mainSha, after: tagSha },
      "generic-1",
    );
    expect(generic.status).toBe(201);
    const again = await deliverGeneric(
      server.url,
      projectId,
      secret,
      { ref: "refs/heads/main", before: mainSha, after: tagSha },
      "generic-1",
    );
    expect(((await again.json()) as { status: string }).status).toBe("duplicate");
    const gone = await deliverGeneric(server.url, projectId, secret, {
      ref: "refs/heads/old",
      after: "0".repeat(40),
      deleted: true,
    });
    expect(gone.status).toBe(202);
  });

  test("a push whose workflows all filter it out is answered, not failed", async () => {
    const other = repo.commit({ "x.txt": "1\n" }, "x", "other");
    await server.api(`/api/v1/projects/${projectId}`, { method: "PATCH", json: { branch_filters: [] } });
    const res = await deliver(server.url, projectId, secret, {
      event: "push",
      body: JSON.stringify(pushPayload("refs/tags/not-a-version", other)),
    });
    expect(res.status).toBe(202);
  });
});

describe("manual triggers through the API", () => {
  test("a tag, and an Idempotency-Key that answers the first pipeline", async () => {
    execFileSync("git", ["-C", repo.bare, "tag", "v1.0.0", mainSha]);
    const byTag = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { tag: "v1.0.0" },
    });
    expect(byTag.status).toBe(201);
    const created = (await byTag.json()) as { id: string; jobs: { name: string }[] };
    expect(created.jobs.map((j) => j.name)).toEqual(["publish"]);
    const headers = { "idempotency-key": "deploy-2026-11-25" };
    const first = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      headers,
      json: { branch: "main" },
    });
    expect(first.status).toBe(201);
    const { id } = (await first.json()) as { id: string };
    const count = (await pipelinesOf()).length;
    const second = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      headers,
      json: { branch: "main" },
    });
    expect(second.status).toBe(200);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(((await second.json()) as { id: string }).id).toBe(id);
    expect((await pipelinesOf()).length).toBe(count);
  });

  test("racing requests with one Idempotency-Key create one pipeline; an `error` pipeline keeps its key", async () => {
    const post = (key: string, json: unknown) =>
      server.api(`/api/v1/projects/${projectId}/pipelines`, {
        method: "POST",
        headers: { "idempotency-key": key },
        json,
      });
    const before = (await pipelinesOf()).length;
    const answers = await Promise.all(Array.from({ length: 4 }, () => post("race-1", { branch: "main" })));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.every((s) => [200, 201, 409].includes(s))).toBe(true);
    expect((await pipelinesOf()).length).toBe(before + 1);
    // An unknown branch is a pipeline too (in `error`): the key answers with it, as with any pipeline.
    const missing = await post("retry-1", { branch: "no-such-branch" });
    expect(missing.status).toBe(201);
    const id = ((await missing.json()) as { id: string; status: string }).id;
    const again = await post("retry-1", { branch: "main" });
    expect(again.status).toBe(200);
    expect((await again.json()) as { id: string; status: string }).toMatchObject({ id, status: "error" });
  });
});

describe("replays", () => {
  const post = (headers: Record<string, string>, body: string) =>
    fetch(`${server.url}/api/v1/hooks/generic/${projectId}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });

  test("a generic delivery signed more than 5 minutes from the server's clock is refused", async () => {
    const payload = { ref: "refs/heads/main", after: mainSha };
    // Well past the 300 s window either way: a request that waits on a busy core must not slide a
    // future timestamp back inside it (301 s did, once).
    for (const skewS of [-400, 400, -3600]) {
      const res = await deliverGeneric(server.url, projectId, secret, payload, undefined, { skewS });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("timestamp_expired");
    }
  });

  test("the timestamp and the delivery id are required and signed: changing either breaks the signature", async () => {
    const body = JSON.stringify({ ref: "refs/heads/main", after: mainSha });
    const ts = String(Math.floor(Date.now() / 1000));
    const signature = await signGeneric(secret, ts, "captured-1", body);
    const code = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;
    const noDelivery = await post({ "x-cairn-signature-256": signature, "x-cairn-timestamp": ts }, body);
    expect([noDelivery.status, await code(noDelivery)]).toEqual([400, "delivery_missing"]);
    const noTime = await post({ "x-cairn-signature-256": signature, "x-cairn-delivery": "captured-1" }, body);
    expect([noTime.status, await code(noTime)]).toEqual([400, "timestamp_missing"]);
    const newId = await post(
      { "x-cairn-signature-256": signature, "x-cairn-delivery": "captured-2", "x-cairn-timestamp": ts },
      body,
    );
    expect([newId.status, await code(newId)]).toEqual([401, "signature_invalid"]);
    const newTime = await post(
      {
        "x-cairn-signature-256": signature,
        "x-cairn-delivery": "captured-1",
        "x-cairn-timestamp": String(Number(ts) + 1),
      },
      body,
    );
    expect([newTime.status, await code(newTime)]).toEqual([401, "signature_invalid"]);
  });

  test("a captured generic delivery sent again inside the window builds nothing", async () => {
    const body = JSON.stringify({ ref: "refs/heads/main", before: mainSha, after: mainSha });
    const ts = String(Math.floor(Date.now() / 1000));
    const headers = {
      "x-cairn-signature-256": await signGeneric(secret, ts, "captured-3", body),
      "x-cairn-delivery": "captured-3",
      "x-cairn-timestamp": ts,
    };
    const before = (await pipelinesOf()).length;
    expect((await post(headers, body)).status).toBe(201);
    const again = await post(headers, body);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { status: string }).status).toBe("duplicate");
    expect(await pipelinesOf()).toHaveLength(before + 1);
  });
});
