// The private orb registry through the REST API: publish the real node orb (packed from
// ../shared/corpus/orbs), immutable versions, audit, and a pipeline that resolves `circleci/node@7`
// at trigger time, records the version, and hands a builder the orb's expanded steps.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packOrb } from "../server/orbs/pack.ts";
import { acquireJob, registerSimBuilder } from "./support/builder-sim.ts";
import { corpusPath } from "./support/corpus.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const ORBS = corpusPath("orbs");
const NODE_7 = packOrb(join(ORBS, "node-orb-v7.2.1/src"));
const CONFIG = `version: 2.1
orbs:
  node: circleci/node@7
jobs:
  build:
    executor: node/default
    steps:
      - checkout
      - node/install-packages: {pkg-manager: npm}
workflows:
  main:
    jobs: [build]
`;

// Each test has a server, and so an orb registry, of its own: it publishes what it needs.
let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(() => server.stop());

const publish = (ref: string, version: string, body: string) =>
  server.api(`/api/v1/orbs/${ref}/versions`, { method: "POST", json: { version, body } });

test("publish, immutable versions, list and info, audited", async () => {
  const res = await publish("circleci/node", "7.2.1", NODE_7);
  expect(res.status).toBe(201);
  const created = (await res.json()) as { name: string; version: string; digest: string };
  expect(created).toMatchObject({ name: "circleci/node", version: "7.2.1" });

  const again = await publish("circleci/node", "7.2.1", `${NODE_7}\n# changed\n`);
  expect(again.status).toBe(409);
  expect(((await again.json()) as { error: { code: string } }).error.code).toBe("orb_version_exists");
  expect((await publish("circleci/node", "7.2", NODE_7)).status).toBe(422);
  expect((await publish("circleci/node", "7.3.0", "- not\n- an orb\n")).status).toBe(422);

  const list = (await (await server.api("/api/v1/orbs")).json()) as {
    items: { name: string; versions: { version: string }[] }[];
  };
  expect(list.items.map((o) => [o.name, o.versions.map((v) => v.version)])).toEqual([
    ["circleci/node", ["7.2.1"]],
  ]);
  const one = (await (await server.api("/api/v1/orbs/circleci/node/versions/7.2.1")).json()) as {
    body: string;
  };
  expect(one.body).toBe(NODE_7);
  expect((await server.api("/api/v1/orbs/circleci/ruby")).status).toBe(404);

  const audit = (await (await server.api("/api/v1/audit?action=orb.published")).json()) as {
    items: { target: { id: string } | null; target_id?: string }[];
  };
  expect(JSON.stringify(audit.items)).toContain("circleci/node@7.2.1");
});

test("a pipeline resolves @7 to the newest 7.x at trigger time, records it, and runs the orb's steps", async () => {
  expect((await publish("circleci/node", "7.2.1", NODE_7)).status).toBe(201);
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG, "package.json": "{}\n" });
  const project = (await (
    await server.api("/api/v1/projects", { method: "POST", json: { name: "orbs", repo_url: repo.bare } })
  ).json()) as { id: string };
  const res = await server.api(`/api/v1/projects/${project.id}/pipelines`, {
    method: "POST",
    json: { branch: "main" },
  });
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: string };
  const pipeline = (await (await server.api(`/api/v1/pipelines/${id}`)).json()) as {
    orbs: Record<string, string>;
  };
  expect(pipeline.orbs).toEqual({ node: "circleci/node@7.2.1" });

  const builder = await registerSimBuilder(server.url, server.token);
  const job = await acquireJob(builder);
  const findPackage = readFileSync(
    join(ORBS, "node-orb-v7.2.1/src/scripts/packages/find-package.sh"),
    "utf8",
  );
  expect(job.steps.map((s) => (s.type === "run" ? s.name : s.type))).toEqual([
    "checkout",
    "Checking for package.json",
    "Installing NPM packages",
    "Remove temporary links",
  ]);
  expect(job.steps[1]).toMatchObject({ type: "run", command: findPackage });
  await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
});

test("an orb the registry lacks: the error names the orb, the version and the publish command", async () => {
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG.replace("circleci/node@7", "circleci/node@8.1") });
  const project = (await (
    await server.api("/api/v1/projects", {
      method: "POST",
      json: { name: "orbs-missing", repo_url: repo.bare },
    })
  ).json()) as { id: string };
  const res = await server.api(`/api/v1/projects/${project.id}/pipelines`, {
    method: "POST",
    json: { branch: "main" },
  });
  // Answered before the config is read: the problem shows on the pipeline, in state `error`.
  expect(res.status).toBe(201);
  const body = (await res.json()) as { status: string; config_errors: { message: string }[] };
  expect(body.status).toBe("error");
  expect(body.config_errors.map((e) => e.message).join("\n")).toContain(
    "orb `node` (circleci/node@8.1): circleci/node has no published version matching 8.1; publish it with `cairn orb pack SRC_DIR > orb.yml && cairn orb publish circleci/node@X.Y.Z orb.yml`",
  );
});

test("the cairn CLI: orb pack | publish | list | info, and config validate resolving orbs through the server", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cairn-orb-cli-"));
  try {
    const env = {
      ...process.env,
      CAIRN_SERVER: server.url,
      CAIRN_TOKEN: server.token,
      CAIRN_CLI_CONFIG: join(dir, "cli.json"),
      NO_COLOR: "1",
    };
    // Spawned asynchronously: the server answering the CLI runs in this test's own event loop.
    const cairn = async (...argv: string[]) => {
      const p = Bun.spawn([process.execPath, join(import.meta.dir, "../server/cairn-cli.ts"), ...argv], {
        env,
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, code] = await Promise.all([
        new Response(p.stdout).text(),
        new Response(p.stderr).text(),
        p.exited,
      ]);
      return { code, stdout, stderr };
    };
    const packed = await cairn("orb", "pack", join(ORBS, "python-orb-v4.0.0/src"));
    expect(packed.code).toBe(0);
    writeFileSync(join(dir, "python.yml"), packed.stdout);
    const published = await cairn("orb", "publish", "circleci/python@4.0.0", join(dir, "python.yml"));
    expect({ code: published.code, out: published.stdout }).toMatchObject({ code: 0 });
    expect(published.stdout).toStartWith("Published circleci/python@4.0.0 (sha256 ");
    expect((await cairn("orb", "publish", "circleci/python@4.0.0", join(dir, "python.yml"))).code).toBe(1);
    expect((await cairn("orb", "list")).stdout).toContain("circleci/python  4.0.0");
    expect((await cairn("orb", "info", "circleci/python")).stdout).toContain("circleci/python@4.0.0");

    writeFileSync(
      join(dir, "config.yml"),
      `version: 2.1
orbs: {python: circleci/python@4, spare: circleci/python@4.0}
workflows:
  w: {jobs: [{python/test: {pkg-manager: pip}}]}
`,
    );
    const valid = await cairn("config", "validate", join(dir, "config.yml"));
    expect(valid.stdout).toBe(`${join(dir, "config.yml")}: valid\n`);
    expect(valid.stderr).toContain("warning: orb `spare` (circleci/python@4.0) is declared but never used");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

test("a trigger with an invalid config answers 201 and the pipeline ends in state error with every problem", async () => {
  const repo = createRepo();
  repo.commit({
    ".circleci/config.yml": "version: 2.1\norbs: {node: circleci/node@99}\njobs:\n  build:\n    steps: 3\n",
  });
  const project = (await (
    await server.api("/api/v1/projects", { method: "POST", json: { name: "invalid", repo_url: repo.bare } })
  ).json()) as { id: string };
  const res = await server.api(`/api/v1/projects/${project.id}/pipelines`, {
    method: "POST",
    json: { branch: "main" },
  });
  expect(res.status).toBe(201);
  const answered = (await res.json()) as { id: string };
  const kept = (await (await server.api(`/api/v1/pipelines/${answered.id}`)).json()) as {
    status: string;
    config_errors: { line: number; col: number }[];
  };
  expect(kept.status).toBe("error");
  expect(kept.config_errors.map((e) => `${e.line}:${e.col}`)).toEqual(["2:8", "4:3", "5:12"]);
});
