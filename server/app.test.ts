// The REST API over a real socket and a real libSQL file: health, auth, projects, pipelines, and
// bad input answered with a clear 4xx and nothing half-written.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRepo, type TestRepo } from "../tests/support/git.ts";
import { startTestServer, type TestServer } from "../tests/support/server.ts";

let server: TestServer;
let repo: TestRepo;

const CONFIG = `version: 2.1
jobs:
  build:
    docker:
      - image: cimg/base:stable
    steps:
      - checkout
      - run: echo hello
  test:
    machine: true
    steps:
      - run: echo test
workflows:
  main:
    jobs:
      - build
      - test:
          requires: [build]
`;

beforeAll(async () => {
  server = await startTestServer();
  repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG }, "add config");
  repo.commit({ ".circleci/config.yml": null, README: "no config here\n" }, "no config", "bare");
});
afterAll(() => server.stop());

/** The one problem of a pipeline answered in state `error` (an unknown ref, no config). */
async function problemOf(res: Response): Promise<string> {
  const p = (await res.json()) as { status: string; config_errors: { message: string }[] };
  expect(p.status).toBe("error");
  return p.config_errors[0].message;
}

async function errorOf(res: Response) {
  const body = (await res.json()) as { error: { code: string; message: string; details?: unknown } };
  expect(typeof body.error.code).toBe("string");
  expect(typeof body.error.message).toBe("string");
  return body.error;
}

async function countRows(): Promise<{ pipelines: number }> {
  const projects = (await (await server.api("/api/v1/projects")).json()) as { items: { id: string }[] };
  let pipelines = 0;
  for (const p of projects.items) {
    const r = (await (await server.api(`/api/v1/projects/${p.id}/pipelines`)).json()) as { items: unknown[] };
    pipelines += r.items.length;
  }
  return { pipelines };
}

describe("health", () => {
  test("answers ok with the version and says TLS is off", async () => {
    const res = await fetch(`${server.url}/api/v1/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; version: string; tls: boolean };
    expect(body.status).toBe("ok");
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(body.tls).toBe(false);
  });
});

describe("auth", () => {
  test("no token is 401 with the error shape", async () => {
    const res = await fetch(`${server.url}/api/v1/projects`);
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe("unauthorized");
  });
  test("a wrong token is 401", async () => {
    const res = await server.api("/api/v1/projects", { headers: { authorization: "Bearer cairn_pat_nope" } });
    expect(res.status).toBe(401);
  });
});

describe("projects and pipelines", () => {
  // The project the pipeline tests trigger on, made here so each test can run alone and in any order.
  let projectId: string;
  beforeAll(async () => {
    const res = await server.api("/api/v1/projects", {
      method: "POST",
      json: { name: "shared", repo_url: repo.bare },
    });
    expect(res.status).toBe(201);
    projectId = ((await res.json()) as { id: string }).id;
  });

  test("a project is registered", async () => {
    const res = await server.api("/api/v1/projects", {
      method: "POST",
      json: { name: "demo", repo_url: repo.bare },
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: string; name: string; repo_url: string };
    expect(body.name).toBe("demo");
    expect(body.repo_url).toBe(repo.bare);
  });

  test("the same name again is 409", async () => {
    const res = await server.api("/api/v1/projects", {
      method: "POST",
      json: { name: "shared", repo_url: repo.bare },
    });
    expect(res.status).toBe(409);
  });

  test("a trigger answers at once with the pipeline `created`; it is planned after the answer", async () => {
    const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
      headers: { prefer: "respond-async" }, // what every client gets without `Prefer: wait`
    });
    expect(res.status).toBe(201);
    const answered = (await res.json()) as { id: string; number: number; status: string; jobs: unknown[] };
    expect(answered).toMatchObject({ status: "created", jobs: [] });
    expect(answered.number).toBeGreaterThan(0);
    let seen = answered.status;
    const states = [seen];
    while (["created", "fetching", "planning"].includes(seen)) {
      await Bun.sleep(10);
      seen = ((await (await server.api(`/api/v1/pipelines/${answered.id}`)).json()) as { status: string })
        .status;
      if (seen !== states.at(-1)) states.push(seen);
    }
    expect(seen).toBe("queued");
    const planned = (await (await server.api(`/api/v1/pipelines/${answered.id}`)).json()) as {
      jobs: { name: string; id: string }[];
    };
    expect(planned.jobs.map((j) => j.name).sort()).toEqual(["build", "test"]);
    for (const j of planned.jobs) await server.api(`/api/v1/jobs/${j.id}/cancel`, { method: "POST" });
  });

  test("a pipeline on a branch creates every job of the workflow", async () => {
    const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: string; jobs: { id: string; name: string; status: string }[] };
    expect(body.jobs.map((j) => j.name).sort()).toEqual(["build", "test"]);
    expect(body.jobs.every((j) => j.status === "queued")).toBe(true);
    const pipeline = (await (await server.api(`/api/v1/pipelines/${body.id}`)).json()) as {
      status: string;
      sha: string;
    };
    expect(pipeline.status).toBe("queued");
    expect(pipeline.sha).toMatch(/^[0-9a-f]{40}$/);
    const job = (await (await server.api(`/api/v1/jobs/${body.jobs[0].id}`)).json()) as {
      status: string;
      executor: { kind: string; image?: string };
      template: string;
    };
    expect(job.status).toBe("queued");
    // The operator's table (here: none) maps the executor image to an LXC template; both are shown.
    expect(job.executor).toEqual({ kind: "docker", image: "cimg/base:stable" });
    expect(job.template).toBe("cairn-base");
  });

  test("bad input is a clear 4xx and writes nothing", async () => {
    const before = await countRows();

    let res = await server.api("/api/v1/projects/no-such-project/pipelines", {
      method: "POST",
      json: { branch: "main" },
    });
    expect(res.status).toBe(404);
    expect((await errorOf(res)).code).toBe("not_found");

    res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      body: "{not json",
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe("malformed_json");

    res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "bare" },
    });
    // The answer comes before the commit is read: what cannot run shows on the pipeline, `error`.
    expect(res.status).toBe(201);
    expect(await problemOf(res)).toMatch(/^config_missing: /);

    res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "nope" },
    });
    expect(res.status).toBe(201);
    expect(await problemOf(res)).toMatch(/^ref_not_found: /);

    repo.commit(
      { ".circleci/config.yml": "version: 2.1\njobs:\n  build:\n    steps: [\n" },
      "broken yaml",
      "broken",
    );
    res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "broken" },
    });
    expect(res.status).toBe(201);
    const broken = (await res.json()) as { status: string; config_errors: { file: string; line: number }[] };
    expect(broken.status).toBe("error");
    expect(broken.config_errors[0].file).toBe(".circleci/config.yml");
    expect(broken.config_errors[0].line).toBeGreaterThan(0);

    res = await server.api("/api/v1/projects", {
      method: "POST",
      json: { name: "x", repo_url: "--upload-pack=touch /tmp/pwned" },
    });
    expect(res.status).toBe(400);
    res = await server.api("/api/v1/projects", { method: "POST", json: { repo_url: repo.bare } });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toContain("name");

    // Each trigger that got past its checks left a trace: a pipeline kept in state `error`.
    expect(await countRows()).toEqual({ pipelines: before.pipelines + 3 });
  });
});
