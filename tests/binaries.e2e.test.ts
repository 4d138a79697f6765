// The binaries alone: dist/cairn-server and dist/cairn-builder copied into an empty folder and run
// with a PATH of a few system tools (no node, bun or npm), from `init` to a finished job's log.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { MIGRATIONS_DIR } from "../server/db/client.ts";
import { readMigrationFolder } from "../server/db/migrate.ts";
import { cleanUp } from "./harness/clean-up.ts";
import { cairnContainers, ensureBaseTemplate, lxcMissingReason, testLxcPath } from "./harness/lxc.ts";
import {
  builderBinary,
  command,
  type Install,
  installBinaries,
  logText,
  type Running,
  resolvable,
  run,
  runPipeline,
  type ServerBinary,
  serveBinary,
} from "./support/binaries.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";

// LXC is optional here (the LXC path has its own suites); without it the test is skipped, never failed.
const lxcSkip = (await lxcMissingReason()) !== undefined;

const CONFIG = `version: 2.1
jobs:
  hello:
    machine: true
    steps:
      - checkout
      - run:
          name: Greet
          command: |
            cat greeting.txt
            printf '\\033[1;32mbuilt by the binaries\\033[0m\\n'
workflows:
  main:
    jobs: [hello]
`;

describe("binaries: cairn-server and cairn-builder on their own", () => {
  let install: Install;
  let dataDir: string;
  let server: ServerBinary | undefined;
  let builder: Running | undefined;
  /** Temp dirs and repositories the tests made: removed after the last test, failed or not. */
  const dirs: string[] = [];
  const repos: TestRepo[] = [];
  const tempDir = (prefix: string) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    install = await installBinaries();
    dataDir = join(tempDir("cairn-bin-data-"), "data");
  }, 600_000); // compiling both binaries takes minutes on a busy 2-core machine; a safety net

  afterAll(() =>
    cleanUp([
      () => builder?.stop(),
      () => server?.stop(),
      // The install (both binaries, their tools folder) lives in one temp folder of its own.
      () => install && rmSync(dirname(install.bin), { recursive: true, force: true }),
      ...dirs.map((d) => () => rmSync(d, { recursive: true, force: true })),
      ...repos.map((r) => () => r.remove()),
    ]),
  );

  /** `cairn-server init` and `serve` on a data dir of its own: for a test that needs a server. */
  async function freshServer(): Promise<ServerBinary> {
    const dir = join(tempDir("cairn-bin-data-"), "data");
    const init = await run(install, install.server, ["init"], { CAIRN_DATA_DIR: dir });
    if (init.code !== 0) throw new Error(`cairn-server init failed (exit ${init.code}): ${init.err}`);
    return serveBinary(install, dir);
  }

  test("the install's PATH has no node, bun or npm, and the binaries are self-contained", async () => {
    expect(resolvable(install, ["node", "bun", "npm", "deno", "npx"])).toEqual([]);
    if (install.hidesCheckout) {
      // As root, each binary runs with the checkout covered by an empty tmpfs: nothing can be read from it.
      const [cmd, argv] = command(install, "/bin/ls", ["-A", join(import.meta.dir, "..")]);
      expect(Bun.spawnSync([cmd, ...argv]).stdout.toString()).toBe("");
    } else console.warn("binaries e2e: not root, so the checkout stays visible to the binaries");
    expect(resolvable(install, ["git", "sh"])).toEqual(["git", "sh"]);
    for (const f of [install.server, install.builder]) {
      expect(statSync(f).size).toBeLessThan(120_000_000);
      const v = await run(install, f, ["version"]);
      expect(v.code).toBe(0);
      expect(v.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
    }
  });

  test("the embedded migrations are the committed folder's", () => {
    const generated = readFileSync(join(install.gen, "migrations.ts"), "utf8");
    const embedded = JSON.parse(generated.slice(generated.indexOf("= ") + 2, generated.lastIndexOf(";")));
    expect(embedded).toEqual(readMigrationFolder(MIGRATIONS_DIR));
  });

  test("init, serve, register, run: a real job completes and its log reads back", async () => {
    const init = await run(install, install.server, ["init"], { CAIRN_DATA_DIR: dataDir });
    expect(init.err).toBe("");
    expect(init.code).toBe(0);
    expect(init.out).toContain("initial-admin-token");
    const migrate = await run(install, install.server, ["migrate"], { CAIRN_DATA_DIR: dataDir });
    expect(migrate.out).toContain("0 migration(s) applied");

    server = await serveBinary(install, dataDir);
    // The UI and its assets come out of the binary.
    const index = await (await fetch(`${server.url}/`)).text();
    const script = /src="(\/assets\/app-[^"]+\.js)"/.exec(index)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${server.url}${script}`);
    expect(asset.status).toBe(200);
    expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(1000);

    builder = await builderBinary(install, server, "binary-builder");
    const repo = createRepo();
    repos.push(repo);
    repo.commit({ ".circleci/config.yml": CONFIG, "greeting.txt": "hello from the checkout\n" });
    const project = (await (
      await server.api("/api/v1/projects", {
        method: "POST",
        json: { name: "binaries", repo_url: repo.bare },
      })
    ).json()) as { id: string };
    const jobs = await runPipeline(server, project.id);
    expect(
      jobs.map((j) => j.status),
      builder.output() + server.output(),
    ).toEqual(["success"]);
    const text = await logText(server, jobs[0]!.id);
    expect(text).toContain("hello from the checkout");
    // The WASM pipeline (embedded) parsed the colour codes out of the text.
    expect(text).toContain("built by the binaries");
    expect(text).not.toContain("\x1b[");
  }, 90_000);

  test.skipIf(lxcSkip)(
    "the LXC driver from the binary: the job runs in an ephemeral container, destroyed after",
    async () => {
      const lxcPath = testLxcPath("binaries");
      await ensureBaseTemplate({ lxcPath });
      // A server of its own: only the LXC builder is there to take the job.
      const own = await freshServer();
      const lxcBuilder = await builderBinary(install, own, "binary-lxc", [
        "--driver",
        "lxc",
        "--lxc-path",
        lxcPath,
        "--network",
        "none",
      ]).catch(async (err) => {
        await own.stop();
        throw err;
      });
      try {
        const repo = createRepo();
        repos.push(repo);
        repo.commit({
          ".circleci/config.yml": CONFIG,
          "greeting.txt": "hello from an LXC container\n",
        });
        const project = (await (
          await own.api("/api/v1/projects", {
            method: "POST",
            json: { name: "binaries-lxc", repo_url: repo.bare },
          })
        ).json()) as { id: string };
        const jobs = await runPipeline(own, project.id, 120_000);
        expect(
          jobs.map((j) => j.status),
          lxcBuilder.output(),
        ).toEqual(["success"]);
        const job = (await (await own.api(`/api/v1/jobs/${jobs[0]!.id}`)).json()) as {
          unsandboxed: boolean;
        };
        expect(job.unsandboxed).toBe(false);
        expect(await logText(own, jobs[0]!.id)).toContain("hello from an LXC container");
        expect(await cairnContainers({ lxcPath })).toEqual([]);
      } finally {
        await lxcBuilder.stop();
        await own.stop();
      }
    },
    150_000,
  );

  test("init --self-signed, serve over HTTPS, and a builder that pins the CA registers", async () => {
    const tlsData = join(tempDir("cairn-bin-tls-"), "data");
    const init = await run(install, install.server, ["init", "--self-signed", "--host", "127.0.0.1"], {
      CAIRN_DATA_DIR: tlsData,
    });
    expect(init.code, init.err).toBe(0);
    const env = { CAIRN_DATA_DIR: tlsData, CAIRN_HOST: "127.0.0.1", CAIRN_PORT: "0" };
    expect((await run(install, install.server, ["config", "check"], env)).out).toContain("note: TLS:");
    const child = spawn(...command(install, install.server, ["serve"]), {
      env: { ...install.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let exited = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code, signal) => (exited = `exited ${code ?? signal}`));
    try {
      // A start takes ~0.5 s quiet and seconds under CI's load: the net is far past either.
      const url = await until(
        "cairn-server serve to print `listening on https://127.0.0.1:PORT`",
        async (note) => {
          note(`${exited || "running"}; output: ${JSON.stringify(out)}`);
          return /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
        },
        60_000,
      );
      const ca = readFileSync(join(tlsData, "tls", "ca.pem"), "utf8");
      const health = await fetch(`${url}/api/v1/health`, { tls: { ca } });
      expect(await health.json()).toMatchObject({ status: "ok", tls: true });
      const token = readFileSync(join(tlsData, "initial-admin-token"), "utf8").trim();
      const reg = (await (
        await fetch(`${url}/api/v1/builders/registration-tokens`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}` },
          tls: { ca },
        })
      ).json()) as { token: string };
      const cfg = join(tlsData, "..", "builder.json");
      const args = [
        "register",
        "--server",
        url,
        "--token",
        reg.token,
        "--config",
        cfg,
        "--driver",
        "process",
      ];
      const r = await run(install, install.builder, [...args, "--ca", join(tlsData, "tls", "ca.pem")]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain("registered");
    } finally {
      child.kill("SIGTERM");
    }
  });

  test("config check explains bad values and passes good ones", async () => {
    const bad = await run(install, install.server, ["config", "check"], {
      CAIRN_DATA_DIR: dataDir,
      CAIRN_PORT: "70000",
      CAIRN_HOST: "0.0.0.0",
      CAIRN_LEASE_TTL_MS: "10",
      CAIRN_DB_URL: "postgres://x",
      CAIRN_S3_REGION: "eu-west-1",
    });
    expect(bad.code).toBe(1);
    for (const needle of [
      "CAIRN_PORT=70000",
      "CAIRN_HOST=0.0.0.0 without TLS",
      "CAIRN_LEASE_TTL_MS=10",
      "CAIRN_DB_URL",
      "CAIRN_S3_BUCKET",
    ]) {
      expect(bad.out).toContain(needle);
    }
    const good = await run(install, install.server, ["config", "check"], { CAIRN_DATA_DIR: dataDir });
    expect(good.out).toContain("config check: ok");
    expect(good.code).toBe(0);
  });
});
