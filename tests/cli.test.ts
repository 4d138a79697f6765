// The `cairn` CLI as a user runs it: a real process against a real server, REST API only.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireJob, LogUploader, registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const root = join(import.meta.dir, "..");
const CONFIG =
  "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: make\nworkflows:\n  main:\n    jobs: [build]\n";

let server: TestServer;
/** The CLI's environment: each test starts logged out, with a config file of its own. */
let env: Record<string, string>;
let base: Record<string, string>;
let projectId: string;

function cairn(
  args: string[],
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
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
    child.stdin.end(stdin ?? "");
  });
}

beforeAll(async () => {
  server = await startTestServer();
  const { CAIRN_SERVER: _s, CAIRN_TOKEN: _t, ...rest } = process.env as Record<string, string>;
  base = { ...rest, NO_COLOR: "1" };
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG });
  const res = await server.api("/api/v1/projects", {
    method: "POST",
    json: { name: "cli-demo", repo_url: repo.bare },
  });
  projectId = ((await res.json()) as { id: string }).id;
});
afterAll(() => server.stop());
beforeEach(() => {
  env = { ...base, CAIRN_CLI_CONFIG: join(mkdtempSync(join(tmpdir(), "cairn-cli-")), "cli.json") };
});
// A job a test left queued would be the next test's acquire: cancel it.
afterEach(async () => {
  const list = (await (await server.api(`/api/v1/projects/${projectId}/pipelines?limit=100`)).json()) as {
    items: { jobs: { id: string; status: string }[] }[];
  };
  for (const j of list.items.flatMap((p) => p.jobs))
    if (j.status === "queued" || j.status === "running")
      await server.api(`/api/v1/jobs/${j.id}/cancel`, { method: "POST" });
});

/** Logged in the way scripts are (`cairn login` itself has its own test). */
function loggedIn(): void {
  env.CAIRN_SERVER = server.url;
  env.CAIRN_TOKEN = server.token;
}

/** A new pipeline of cli-demo, by API: its job is the next one a builder acquires. */
const newPipeline = () =>
  server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } });

describe("cairn", () => {
  test("bad usage exits 2 with a message; commands need a login", async () => {
    let r = await cairn(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command frobnicate");
    r = await cairn(["trigger", "--nope"]);
    expect(r.code).toBe(2);
    r = await cairn(["status"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("not logged in");
  });

  test("login checks the token and saves it 0600", async () => {
    let r = await cairn(["login", "--server", server.url], "cairn_pat_wrong\n");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("401");
    r = await cairn(["login", "--server", server.url], `${server.token}\n`);
    expect(r.code).toBe(0);
    expect(statSync(env.CAIRN_CLI_CONFIG).mode & 0o777).toBe(0o600);
  });

  test("trigger, status and env speak --json for scripts", async () => {
    loggedIn();
    const t = await cairn(["trigger", "cli-demo", "--branch", "main", "--json"]);
    expect(t.code).toBe(0);
    const pipeline = JSON.parse(t.stdout) as { id: string; jobs: { name: string }[] };
    expect(pipeline.jobs.map((j) => j.name)).toEqual(["build"]);
    const s = await cairn(["status", pipeline.id, "--json"]);
    expect((JSON.parse(s.stdout) as { id: string }).id).toBe(pipeline.id);
    const all = await cairn(["status", "--json"]);
    expect((JSON.parse(all.stdout) as { project: string }[]).map((r) => r.project)).toContain("cli-demo");

    const set = await cairn(
      ["env", "set", "cli-demo", "DEPLOY_TOKEN", "--from-stdin", "--json"],
      "s3cret-value-123\n",
    );
    expect(set.code).toBe(0);
    expect(set.stdout).not.toContain("s3cret");
    const list = await cairn(["env", "list", "cli-demo", "--json"]);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((v) => v.name)).toEqual(["DEPLOY_TOKEN"]);
    expect(list.stdout).not.toContain("s3cret");
    expect((await cairn(["env", "unset", "cli-demo", "DEPLOY_TOKEN"])).code).toBe(0);
  });

  test("trigger of a config that cannot run fails with its problems, with and without --follow", async () => {
    loggedIn();
    const repo = createRepo();
    repo.commit({ ".circleci/config.yml": "version: 2.1\njobs:\n  build:\n    steps: 3\n" });
    const made = await server.api("/api/v1/projects", {
      method: "POST",
      json: { name: "cli-broken", repo_url: repo.bare },
    });
    expect(made.status).toBe(201);
    // The server answers before reading the config; the CLI waits for the plan and reports the `error`.
    for (const follow of [[], ["--follow"]]) {
      const r = await cairn(["trigger", "cli-broken", "--branch", "main", ...follow]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/pipeline #\d+ cannot run: .*\.circleci\/config\.yml:\d+:\d+: /s);
    }
    const missing = await cairn(["trigger", "cli-broken", "--branch", "no-such-branch", "--follow"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("ref_not_found: branch no-such-branch does not exist");
  }, 30_000);

  test("logs --follow prints a running job's lines live, and --json lines parse", async () => {
    loggedIn();
    await newPipeline();
    const builder = await registerSimBuilder(server.url, server.token, "cli");
    const job = await acquireJob(builder);
    const up = new LogUploader(builder, job.job.id);
    up.write("\x1b[31mfirst line\x1b[0m\n");
    await up.drain();
    const child: ChildProcess = spawn(
      process.execPath,
      [join(root, "server/cairn-cli.ts"), "logs", job.job.id, "--follow"],
      { env, stdio: "pipe" },
    );
    // Listened for from the start: the CLI may exit before the test gets to wait for it.
    const exited = new Promise<number | null>((r) => child.on("exit", r));
    let out = "";
    let err = "";
    child.stderr?.on("data", (d) => (err += d));
    const sawFirst = new Promise<void>((resolve, reject) => {
      child.stdout?.on("data", (d) => {
        out += d;
        if (out.includes("first line")) resolve();
      });
      // An exit before the first line is a failure to say, not a wait until the test's timeout.
      child.on("exit", (code) => reject(new Error(`cairn logs --follow exited ${code}: ${err}`)));
    });
    await sawFirst;
    // The job is still running: the line came live, not after the fact.
    const status = ((await (await server.api(`/api/v1/jobs/${job.job.id}`)).json()) as { status: string })
      .status;
    expect(status).toBe("running");
    up.write("second line\n");
    await up.drain();
    await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: up.offset });
    const code = await exited;
    expect(code).toBe(0);
    expect(out).toBe("first line\nsecond line\n"); // piped: plain, no escapes

    const json = await cairn(["logs", job.job.id, "--json"]);
    const lines = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { n: number; text: string; spans: unknown[] });
    expect(lines.map((l) => [l.n, l.text])).toEqual([
      [1, "first line"],
      [2, "second line"],
    ]);
    expect(lines[0].spans.length).toBe(1);
  });

  test("logs --follow of a job that is not there fails with a message after a few attempts", async () => {
    loggedIn();
    const r = await cairn(["logs", "no-such-job", "--follow"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot stream the log of job no-such-job");
  });

  test("artifacts download streams a job's artifacts into --dest, --path picks some, --json lists them", async () => {
    loggedIn();
    await newPipeline();
    const builder = await registerSimBuilder(server.url, server.token, "cli-artifacts");
    const job = await acquireJob(builder);
    const big = crypto.getRandomValues(new Uint8Array(48 * 1024)); // a few chunks on the wire
    const files: Record<string, Uint8Array<ArrayBuffer>> = {
      "report.txt": new TextEncoder().encode("all green\n"),
      "dist/app.bin": big,
      "dist/sub/notes.md": new TextEncoder().encode("# notes\n"),
    };
    for (const [path, bytes] of Object.entries(files)) {
      const url = await builder.artifact(job.job.id, path, bytes.length);
      await builder.blob(url, { method: "PUT", body: new Blob([bytes]).stream(), size: bytes.length });
    }
    await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });

    const dest = mkdtempSync(join(tmpdir(), "cairn-artifacts-"));
    const r = await cairn(["artifacts", "download", job.job.id, "--dest", dest]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Downloaded 3 artifact(s)");
    for (const [path, bytes] of Object.entries(files))
      expect(new Uint8Array(readFileSync(join(dest, path)))).toEqual(bytes);
    expect(
      readdirSync(join(dest, "dist"), { recursive: true }).some((f) => String(f).includes("partial")),
    ).toBe(false);

    const only = mkdtempSync(join(tmpdir(), "cairn-artifacts-"));
    const j = await cairn(["artifacts", "download", job.job.id, "--path", "dist", "--dest", only, "--json"]);
    expect(j.code).toBe(0);
    const listed = JSON.parse(j.stdout) as {
      job: string;
      files: { path: string; file: string; size: number }[];
    };
    expect(listed.job).toBe(job.job.id);
    expect(listed.files.map((f) => [f.path, f.size])).toEqual([
      ["dist/app.bin", big.length],
      ["dist/sub/notes.md", files["dist/sub/notes.md"].length],
    ]);
    for (const f of listed.files) expect(statSync(f.file).size).toBe(f.size);
    expect(existsSync(join(only, "report.txt"))).toBe(false);

    const none = await cairn(["artifacts", "download", job.job.id, "--path", "nope", "--dest", only]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no artifact at nope");
    const missing = await cairn(["artifacts", "download", "no-such-job"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("404");
    expect((await cairn(["artifacts", "upload", job.job.id])).code).toBe(2);
  });
});
