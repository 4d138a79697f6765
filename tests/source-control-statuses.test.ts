// Commit statuses and deploy keys against a fake GitHub API that is a real HTTP server on 127.0.0.1:
// the right sha, state, context and link reach it, a 500 is retried, and the deploy key is added with
// read-only access and removed again. The forge token never comes back out of the API.
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { acquireJob, registerSimBuilder } from "./support/builder-sim.ts";
import {
  deliver,
  type FakeGithub,
  pushPayload,
  type RecordedRequest,
  startFakeGithub,
} from "./support/forge.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

// A real server, git and a forge that retries in the background: seconds on a busy machine.
setDefaultTimeout(60_000); // for runs of this file alone; `npm test` sets 120 s

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo build
  lint:
    machine: true
    steps:
      - run: echo lint
workflows:
  ci:
    jobs: [build]
  style:
    jobs: [lint]
`;

const PUBLIC_URL = "https://cairn.example.test";
const TOKEN = "ghp_fakeToken0123456789abcdef";

let server: TestServer;
let github: FakeGithub;
let projectId: string;
let secret: string;
let sha: string;
let repo: TestRepo;

const statuses = (r: RecordedRequest[]) => r.filter((x) => x.path.includes("/statuses/"));

const forgeSettings = () => ({
  forge: { kind: "github", api_url: `${github.url}/api/v3/`, repo: "acme/widgets", token: TOKEN },
});

beforeAll(async () => {
  github = startFakeGithub();
  server = await startTestServer({ env: { CAIRN_PUBLIC_URL: PUBLIC_URL } });
  repo = createRepo();
  sha = repo.commit({ ".circleci/config.yml": CONFIG }, "add config");
  const res = await server.api("/api/v1/projects", {
    method: "POST",
    json: { name: "acme-widgets", repo_url: repo.bare },
  });
  ({ id: projectId, webhook_secret: secret } = (await res.json()) as { id: string; webhook_secret: string });
  // Every test talks to the fake GitHub; "forge settings" below checks how this is stored.
  const set = await server.api(`/api/v1/projects/${projectId}`, { method: "PATCH", json: forgeSettings() });
  expect(set.status).toBe(200);
}, 30_000);

// Each test pushes a commit of its own, so statuses (and failures injected for them) are its own;
// background retries of an earlier test's statuses name another sha.
beforeEach(() => {
  sha = repo.commit({ ".circleci/config.yml": CONFIG, "n.txt": crypto.randomUUID() }, "change");
});

// Jobs a test left queued would be the next test's first acquire: cancel them.
afterEach(async () => {
  const list = (await (await server.api(`/api/v1/projects/${projectId}/pipelines?limit=100`)).json()) as {
    items: { jobs: { id: string; status: string }[] }[];
  };
  for (const j of list.items.flatMap((p) => p.jobs))
    if (j.status === "queued" || j.status === "running")
      await server.api(`/api/v1/jobs/${j.id}/cancel`, { method: "POST" });
});
afterAll(async () => {
  await server.stop();
  github.stop();
});

describe("forge settings", () => {
  // A GitHub Enterprise base URL (…/api/v3): every call goes under it.
  test("are validated, and the token is sealed: never shown, never in the audit log", async () => {
    const bad = await server.api(`/api/v1/projects/${projectId}`, {
      method: "PATCH",
      json: { forge: { repo: "not a repo" } },
    });
    expect(bad.status).toBe(400);
    const res = await server.api(`/api/v1/projects/${projectId}`, { method: "PATCH", json: forgeSettings() });
    expect(res.status).toBe(200);
    const project = await (await server.api(`/api/v1/projects/${projectId}`)).text();
    expect(project).not.toContain(TOKEN);
    expect(JSON.parse(project).forge).toEqual({
      kind: "github",
      api_url: `${github.url}/api/v3`,
      repo: "acme/widgets",
      token_set: true,
    });
    expect(JSON.parse(project).webhook_url).toBe(`${PUBLIC_URL}/api/v1/hooks/github/${projectId}`);
    const audit = await (await server.api("/api/v1/audit?action=project.settings_changed")).text();
    expect(audit).toContain(projectId);
    expect(audit).not.toContain(TOKEN);
  });
});

describe("commit statuses", () => {
  test("pending per workflow when the pipeline is created, retried after a 500, then each workflow's result", async () => {
    github.failNext(new RegExp(`/statuses/${sha}$`), 500, 1);
    const res = await deliver(server.url, projectId, secret, {
      event: "push",
      body: JSON.stringify(pushPayload("main", sha)),
    });
    expect(res.status).toBe(201);
    const { pipeline } = (await res.json()) as { pipeline: { id: string } };
    const link = `${PUBLIC_URL}/pipelines/${pipeline.id}`;

    // 1 refused + 2 pending (the refused one again among them).
    const ours = (r: RecordedRequest[]) => statuses(r).filter((x) => x.path.endsWith(sha));
    await github.waitFor((r) => ours(r).length >= 3);
    const first = ours(github.requests);
    for (const r of first) {
      expect(r.method).toBe("POST");
      expect(r.path).toBe(`/api/v3/repos/acme/widgets/statuses/${sha}`);
      expect(r.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.body).toMatchObject({ state: "pending", target_url: link });
    }
    const contexts = new Set(first.map((r) => r.body.context));
    expect([...contexts].sort()).toEqual(["cairn/ci", "cairn/style"]);
    // The refused context was posted twice: it was retried.
    const counts = [...contexts].map((c) => first.filter((r) => r.body.context === c).length).sort();
    expect(counts).toEqual([1, 2]);

    // A builder runs the jobs: build succeeds, lint fails.
    const builder = await registerSimBuilder(server.url, server.token);
    for (let i = 0; i < 2; i++) {
      const job = await acquireJob(builder);
      const ok = job.job.name === "build";
      await builder.finish(job.job.id, {
        status: ok ? "success" : "failed",
        unsandboxed: true,
        log_bytes: 0,
      });
    }
    await github.waitFor((r) => ours(r).filter((x) => x.body.state !== "pending").length >= 2);
    const final = ours(github.requests).filter((x) => x.body.state !== "pending");
    expect(final.map((r) => [r.body.context, r.body.state, r.body.target_url, r.path]).sort()).toEqual([
      ["cairn/ci", "success", link, `/api/v3/repos/acme/widgets/statuses/${sha}`],
      ["cairn/style", "failure", link, `/api/v3/repos/acme/widgets/statuses/${sha}`],
    ]);
  }, 30_000);

  test("a pending status that needed retries never lands after the final state", async () => {
    const before = statuses(github.requests).length;
    github.failNext(new RegExp(`/statuses/${sha}$`), 502, 2);
    const res = await deliver(server.url, projectId, secret, {
      event: "push",
      body: JSON.stringify(pushPayload("main", sha)),
    });
    const { pipeline } = (await res.json()) as { pipeline: { id: string } };
    // Finish both jobs at once, while the first pending is still being retried.
    const builder = await registerSimBuilder(server.url, server.token, "fast");
    for (let i = 0; i < 2; i++) {
      const job = await acquireJob(builder);
      await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
    }
    const mine = () =>
      statuses(github.requests)
        .slice(before)
        .filter((r) => r.body.target_url.endsWith(pipeline.id));
    await github.waitFor(() => mine().filter((r) => r.body.state === "success").length >= 2);
    await Bun.sleep(500);
    for (const context of ["cairn/ci", "cairn/style"]) {
      const states = mine()
        .filter((r) => r.body.context === context)
        .map((r) => r.body.state);
      expect(states.at(-1)).toBe("success");
      expect(states.indexOf("success")).toBe(states.length - 1);
    }
  }, 30_000);

  test("a forge that keeps failing does not hold up the API", async () => {
    // The forge answers no status call until the push has been answered (then only with 503s):
    // an API that waited for the forge would never answer.
    const release = github.stall(new RegExp(`/statuses/${sha}$`));
    try {
      const before = statuses(github.requests).length;
      const res = await deliver(server.url, projectId, secret, {
        event: "push",
        body: JSON.stringify(pushPayload("main", sha)),
      });
      expect(res.status).toBe(201);
      // The status calls were made, and were still unanswered when the push was.
      await github.waitFor((r) => statuses(r).length > before);
    } finally {
      release();
    }
  });
});

describe("a push whose config cannot run", () => {
  test("makes a pipeline in state error listing every problem; the hook answers 201; the forge gets one error status saying why", async () => {
    const broken = repo.commit(
      { ".circleci/config.yml": "version: 2.1\njobs:\n  build:\n    steps: 3\n" },
      "broken",
      "broken",
    );
    const res = await deliver(server.url, projectId, secret, {
      event: "push",
      body: JSON.stringify(pushPayload("broken", broken)),
    });
    expect(res.status).toBe(201);
    const { pipeline } = (await res.json()) as { pipeline: { id: string; status: string } };
    expect(pipeline.status).toBe("error");
    const kept = (await (await server.api(`/api/v1/pipelines/${pipeline.id}`)).json()) as {
      status: string;
      config_errors: { file: string; line: number; col: number; message: string }[];
      workflows: unknown[];
    };
    expect(kept.status).toBe("error");
    expect(kept.workflows).toEqual([]);
    expect(kept.config_errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`)).toEqual([
      ".circleci/config.yml:3:3: job `build` has no executor: give it `docker`, `machine` or `executor`",
      ".circleci/config.yml:4:12: job `build`: `steps` must be a list, not number 3",
    ]);
    await github.waitFor((r) => statuses(r).some((x) => x.path.endsWith(broken) && x.body.state === "error"));
    const error = statuses(github.requests).find((x) => x.path.endsWith(broken));
    expect(error?.body).toMatchObject({
      state: "error",
      context: "cairn",
      target_url: `${PUBLIC_URL}/pipelines/${pipeline.id}`,
    });
    expect(error?.body.description).toContain(
      "2 problems in the config: .circleci/config.yml:3:3: job `build` has no executor",
    );
  });
});

describe("deploy keys", () => {
  test("generated, added read-only through the forge API, shown public only, removed from the forge on delete", async () => {
    const created = await server.api(`/api/v1/projects/${projectId}/deploy-key`, { method: "POST" });
    expect(created.status).toBe(201);
    const key = (await created.json()) as {
      public_key: string;
      fingerprint: string;
      forge: { added: boolean; id: string };
    };
    expect(key.public_key).toMatch(/^ssh-ed25519 AAAA\S+ cairn deploy key for acme-widgets$/);
    expect(key.fingerprint).toMatch(/^SHA256:/);
    expect(key.forge).toEqual({ added: true, id: "1000" });
    const added = github.requests.find(
      (r) => r.method === "POST" && r.path === "/api/v3/repos/acme/widgets/keys",
    );
    expect(added?.body).toEqual({ title: "Cairn CI (acme-widgets)", key: key.public_key, read_only: true });
    expect(added?.authorization).toBe(`Bearer ${TOKEN}`);

    const shown = await (await server.api(`/api/v1/projects/${projectId}/deploy-key`)).text();
    expect(shown).not.toContain("PRIVATE KEY");
    expect(JSON.parse(shown)).toMatchObject({
      public_key: key.public_key,
      fingerprint: key.fingerprint,
      forge_key_id: "1000",
    });
    expect((await server.api(`/api/v1/projects/${projectId}/deploy-key`, { method: "POST" })).status).toBe(
      409,
    );

    const removed = await server.api(`/api/v1/projects/${projectId}/deploy-key`, { method: "DELETE" });
    expect(removed.status).toBe(200);
    expect(((await removed.json()) as { forge: unknown }).forge).toEqual({ removed: true });
    expect(
      github.requests.some((r) => r.method === "DELETE" && r.path === "/api/v3/repos/acme/widgets/keys/1000"),
    ).toBe(true);
    expect((await server.api(`/api/v1/projects/${projectId}/deploy-key`)).status).toBe(404);

    const audit = (await (await server.api("/api/v1/audit")).json()) as {
      items: { action: string; details: unknown }[];
    };
    const actions = audit.items.map((a) => a.action);
    expect(actions).toContain("deploy_key.added");
    expect(actions).toContain("deploy_key.removed");
  });
});
