// The `cairn` CLI in a newcomer's first hour, as real processes against a real server: `login`
// takes the token on stdin (never argv), `logs` says why a job with no lines failed, `status`
// shows slices, attempts and jobs on hold, `approve` releases them, and every command has --json.
import { afterAll, beforeAll, beforeEach, expect, setDefaultTimeout, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServerClient } from "../builder/client.ts";
import { acquireJob, registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo } from "./support/git.ts";
import { json, startTestServer, type TestServer } from "./support/server.ts";

setDefaultTimeout(120_000);

const root = join(import.meta.dir, "..");
const EARLY = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: make
  ship:
    machine: true
    steps:
      - run: make ship
workflows:
  main:
    jobs:
      - build
      - ship:
          requires: [build]
`;
const GATED = `version: 2.1
jobs:
  build:
    machine: true
    parallelism: 2
    steps:
      - run: make
  deploy:
    machine: true
    steps:
      - run: make deploy
workflows:
  main:
    jobs:
      - build
      - hold:
          type: approval
          requires: [build]
      - deploy:
          requires: [hold]
`;

let server: TestServer;
let env: Record<string, string>;
let builder: ServerClient;
let home: string;

function cairn(args: string[], stdin = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, "server/cairn-cli.ts"), ...args], {
      env,
      stdio: "pipe",
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function project(name: string, config: string): Promise<string> {
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": config }, "config");
  return (
    await json<{ id: string }>(
      server.api("/api/v1/projects", { method: "POST", json: { name, repo_url: repo.bare } }),
    )
  ).id;
}

beforeAll(async () => {
  server = await startTestServer();
  home = mkdtempSync(join(tmpdir(), "cairn-cli-first-"));
  const { CAIRN_SERVER: _s, CAIRN_TOKEN: _t, ...rest } = process.env as Record<string, string>;
  env = { ...rest, CAIRN_CLI_CONFIG: join(home, "cli.json"), NO_COLOR: "1" };
  builder = await registerSimBuilder(server.url, server.token, "sim-cli-first");
});
afterAll(() => server.stop());
// Every test starts logged in (the login tests log in again, their own way).
beforeEach(async () => {
  const login = await cairn(["login", "--server", server.url], `${server.token}\n`);
  if (login.code !== 0) throw new Error(`cairn login failed: ${login.stderr}`);
});

test("login never takes the token from argv; it reads it from stdin and checks it", async () => {
  const argv = await cairn(["login", "--server", server.url, "--token", server.token]);
  expect(argv.code).toBe(2);
  expect(argv.stderr).toContain("--token is not accepted");
  expect(argv.stderr + argv.stdout).not.toContain(server.token);

  const wrong = await cairn(["login", "--server", server.url], "cairn_pat_wrong\n");
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toContain("401");
  const empty = await cairn(["login", "--server", server.url], "\n");
  expect(empty.code).toBe(2);
  expect(empty.stderr).toContain("no token given");

  const ok = await cairn(["login", "--server", server.url, "--json"], `${server.token}\n`);
  expect(ok.code).toBe(0);
  expect((JSON.parse(ok.stdout) as { server: string }).server).toBe(server.url);
  expect(ok.stdout).not.toContain(server.token);
});

test("login on a terminal prompts for the token and does not echo it", async () => {
  // util-linux `script` gives the CLI a real pty, as a person's terminal would.
  const cli = `${process.execPath} ${join(root, "server/cairn-cli.ts")} login --server ${server.url}`;
  const child = spawn("script", ["-qec", cli, "/dev/null"], { env: { ...env, TERM: "dumb" }, stdio: "pipe" });
  let out = "";
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on("exit", r));
  await new Promise<void>((resolve) =>
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("API token:")) resolve();
    }),
  );
  child.stdin.write(`${server.token}\r`);
  const code = await exited;
  expect(code).toBe(0);
  expect(out).toContain("Logged in to");
  expect(out).not.toContain(server.token);
});

test("logs of a job that failed before its first step prints the failure reason; the next job is not run", async () => {
  const id = await project("early", EARLY);
  const created = await json<{ id: string }>(
    server.api(`/api/v1/projects/${id}/pipelines`, { method: "POST", json: { branch: "main" } }),
  );
  const job = await acquireJob(builder, { pipeline: created.id });
  await builder.finish(job.job.id, {
    status: "failed",
    failure_reason: "checkout failed: repository not found",
    unsandboxed: true,
    log_bytes: 0,
  });
  const text = await cairn(["logs", job.job.id]);
  expect(text.code).toBe(0);
  expect(text.stdout).toBe("");
  expect(text.stderr).toContain("build: failed: checkout failed: repository not found");
  const asJson = await cairn(["logs", job.job.id, "--json"]);
  expect(JSON.parse(asJson.stdout)).toEqual({
    job: job.job.id,
    status: "failed",
    failure_reason: "checkout failed: repository not found",
  });

  // `not_run`, not `canceled`: nobody canceled it, its requirement failed.
  const rows = (await cairn(["status", created.id])).stdout.split("\n").map((l) => l.trim().split(/\s+/));
  expect(rows.find((r) => r[0] === "ship")?.[3]).toBe("not_run");
  const ship = await cairn(["logs", rows.find((r) => r[0] === "ship")![4]]);
  expect(ship.stderr).toContain("ship: not_run: not run: required job build did not succeed");
});

test("status shows slices, attempts and on-hold; approve releases the hold; --json throughout", async () => {
  const id = await project("gated", GATED);
  const created = await json<{ id: string }>(
    server.api(`/api/v1/projects/${id}/pipelines`, { method: "POST", json: { branch: "main" } }),
  );
  const slices: string[] = [];
  for (let i = 0; i < 2; i++) {
    const job = await acquireJob(builder, { pipeline: created.id });
    slices.push(job.job.id);
    await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
  }

  const table = await cairn(["status", created.id]);
  expect(table.code).toBe(0);
  const rows = table.stdout.split("\n").map((l) => l.trim().split(/\s+/));
  expect(rows[1]).toEqual(["JOB", "SLICE", "ATTEMPT", "STATUS", "ID"]);
  const row = (name: string, slice: string) => rows.find((r) => r[0] === name && r[1] === slice);
  expect(row("build", "1/2")?.slice(2, 4)).toEqual(["1", "success"]);
  expect(row("build", "2/2")?.slice(2, 4)).toEqual(["1", "success"]);
  const hold = row("hold", "-")!;
  expect(hold.slice(2, 4)).toEqual(["1", "on_hold"]);
  expect(row("deploy", "-")?.[3]).toBe("queued");
  const asJson = JSON.parse((await cairn(["status", created.id, "--json"])).stdout) as {
    jobs: { name: string; approval?: string }[];
  };
  expect(asJson.jobs.find((j) => j.name === "hold")?.approval).toBe("pending");

  const approved = await cairn(["approve", hold[4], "--json"]);
  expect(approved.code).toBe(0);
  expect(JSON.parse(approved.stdout)).toEqual({ id: hold[4], status: "success", approval: "approved" });
  const again = await cairn(["approve", hold[4]]);
  expect(again.code).toBe(1);
  expect(again.stderr).toContain("not an approval job waiting to be approved");
  expect((await cairn(["approve"])).code).toBe(2);

  // A re-run slice shows its attempt.
  await server.api(`/api/v1/jobs/${slices[1]}/rerun`, { method: "POST", json: {} });
  const after = (await cairn(["status", created.id])).stdout.split("\n").map((l) => l.trim().split(/\s+/));
  const rerunSlice = after.filter((r) => r[0] === "build" && r[2] === "2");
  expect(rerunSlice).toHaveLength(1);
  expect(rerunSlice[0][3]).toBe("queued");
  expect(after.find((r) => r[0] === "hold")?.[3]).toBe("success");
});

test("trigger --follow says when the pipeline waits for an approval, and ends once it is approved", async () => {
  await project("gated-follow", GATED);
  const child = spawn(
    process.execPath,
    [join(root, "server/cairn-cli.ts"), "trigger", "gated-follow", "--branch", "main", "--follow"],
    { env, stdio: "pipe" },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on("exit", r));
  const sawHold = new Promise<string>((resolve) =>
    child.stderr.on("data", (d) => {
      err += d;
      const m = /hold is on hold: `cairn approve (\S+)`/.exec(err);
      if (m) resolve(m[1]);
    }),
  );
  // The builder runs whatever is queued (earlier tests left jobs too) until this project's `name` ran.
  const runUntil = async (name: string, count: number) => {
    let seen = 0;
    while (seen < count) {
      const job = await acquireJob(builder);
      await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
      if (job.project.name === "gated-follow" && job.job.name === name) seen++;
    }
  };
  await runUntil("build", 2); // both slices; then the pipeline waits on hold
  const holdId = await sawHold;
  expect((await cairn(["approve", holdId])).code).toBe(0);
  await runUntil("deploy", 1);
  expect(await exited).toBe(0);
  expect(out).toContain("success");
  expect(err.match(/is on hold/g)).toHaveLength(1);
});

test("config validate and process speak --json too", async () => {
  const file = join(home, "config.yml");
  writeFileSync(file, GATED);
  const ok = await cairn(["config", "validate", file, "--json"]);
  expect(ok.code).toBe(0);
  expect(JSON.parse(ok.stdout)).toMatchObject({ file, valid: true, errors: [] });
  const processed = JSON.parse((await cairn(["config", "process", file, "--json"])).stdout) as {
    config: { jobs: Record<string, unknown> };
  };
  expect(Object.keys(processed.config.jobs)).toContain("deploy");
  writeFileSync(file, "version: 2.1\njobs: {}\nworkflows:\n  main:\n    jobs: [nope]\n");
  const bad = await cairn(["config", "validate", file, "--json"]);
  expect(bad.code).toBe(1);
  const report = JSON.parse(bad.stdout) as { valid: boolean; errors: { line: number; message: string }[] };
  expect(report.valid).toBe(false);
  expect(report.errors[0].message).toContain("nope");
});
