// Secrets end to end, all real: the server as its own process (its stdout and stderr captured), the
// builder daemon as its own process — with the process driver, and with LXC through a real sshd —
// and a build that prints its secrets in clear and in base64. The steps get the values; the log shows
// them masked; no value shows in the host's process list while the step runs; and no byte of any
// value is left in the libSQL files, the data directory, the blob store or either process's output.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MASK } from "../wasm/index.ts";
import { cleanUp } from "./harness/clean-up.ts";
import {
  cairnContainers,
  destroyContainers,
  ensureBaseTemplate,
  requireLxc,
  testLxcPath,
} from "./harness/lxc.ts";
import { startSshd, type TestSshd } from "./harness/sshd.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { type ServerProcess, startServerProcess } from "./support/server-process.ts";
import { waitForPlan } from "./support/trigger.ts";

const root = join(import.meta.dir, "..");

const SECRETS = {
  API_KEY: "e2e-api-key-Q7xv93kLm2",
  DEPLOY_TOKEN: "e2e-deploy-token-Zr81pW0c",
};

const CONFIG = `version: 2.1
jobs:
  leak:
    machine: true
    steps:
      - run:
          name: Print the secrets
          command: |
            echo "plain:$API_KEY"
            echo "ctx:$DEPLOY_TOKEN"
            echo "b64:$(printf %s "$API_KEY" | base64)"
            echo "sha:$(printf %s "$API_KEY" | sha256sum | cut -c1-64)"
            echo "ctxsha:$(printf %s "$DEPLOY_TOKEN" | sha256sum | cut -c1-64)"
            echo "waiting"
            sleep 2
workflows:
  main:
    jobs:
      - leak:
          context: [e2e]
`;

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
/** Every form a value could leak in: clear, base64, hex. */
const forms = (v: string) => [v, Buffer.from(v).toString("base64"), Buffer.from(v).toString("hex")];

const skipLxc = await requireLxc({ sshd: true });

interface Setup {
  name: string;
  skip: boolean;
  start?: () => Promise<void>;
  stop?: (jobId: string | undefined) => Promise<void>;
  /** Extra `cairn-builder register` arguments. */
  registerArgs: () => string[];
  /** Extra environment of `cairn-builder run`, given the test's builder dir. */
  runEnv?: (builderDir: string) => Record<string, string>;
}

let sshd: TestSshd | undefined;
const SETUPS: Setup[] = [
  {
    name: "process driver, local transport",
    skip: false,
    registerArgs: () => ["--driver", "process"],
    // Its sandboxes under the builder dir the test removes, not under the machine's /tmp.
    runEnv: (builderDir) => ({ TMPDIR: builderDir }),
  },
  {
    name: "LXC over SSH",
    skip: skipLxc,
    async start() {
      await ensureBaseTemplate();
      sshd = await startSshd();
    },
    async stop(jobId) {
      await sshd?.stop();
      // This job's container is gone (other tests may have their own running).
      const left = jobId ? (await cairnContainers()).filter((n) => n.includes(jobId.slice(0, 8))) : [];
      await destroyContainers({ names: left }); // removed even when the assertion fails
      expect(left).toEqual([]);
    },
    registerArgs: () => [
      "--driver",
      "lxc",
      "--ssh-host",
      sshd!.host,
      "--ssh-port",
      String(sshd!.port),
      "--ssh-user",
      sshd!.username,
      "--ssh-key",
      sshd!.clientKeyPath,
      "--ssh-host-key",
      sshd!.hostPublicKey,
      "--lxc-path",
      testLxcPath(),
      "--network",
      "none",
    ],
  },
];

/** Command lines of every process on this host. */
function processList(): string {
  return spawnSync("ps", ["-eww", "-o", "args="], { encoding: "utf8" }).stdout;
}

for (const setup of SETUPS)
  describe.skipIf(setup.skip)(`secrets end to end: ${setup.name}`, () => {
    let dataDir: string;
    let builderDir: string;
    let server: ServerProcess;
    let builder: ChildProcess | undefined;
    let builderOut = "";
    let jobId: string;
    let repo: TestRepo | undefined;

    const api = async (path: string, init: { method?: string; json?: unknown } = {}) => {
      const res = await fetch(`${server.url}${path}`, {
        method: init.method ?? "GET",
        headers: {
          authorization: `Bearer ${server.token}`,
          "content-type": "application/json",
          ...waitForPlan(path, init.method),
        },
        body: init.json === undefined ? undefined : JSON.stringify(init.json),
      });
      return { status: res.status, text: await res.text() };
    };

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), "cairn-secrets-e2e-"));
      builderDir = mkdtempSync(join(tmpdir(), "cairn-secrets-builder-"));
      await setup.start?.();
      server = await startServerProcess(dataDir);
    }, 120_000);

    afterAll(() =>
      cleanUp([
        async () => {
          if (builder && builder.exitCode === null) {
            builder.kill("SIGTERM");
            await new Promise((r) => builder?.once("exit", r));
          }
        },
        () => server?.stop(),
        () => setup.stop?.(jobId),
        () => dataDir && rmSync(dataDir, { recursive: true, force: true }),
        () => builderDir && rmSync(builderDir, { recursive: true, force: true }),
        () => repo?.remove(),
      ]),
    );

    /**
     * The build both tests look at, run once for this describe by whichever test comes first: a
     * project with a secret and a context, a builder, one job, the builder stopped after it.
     */
    let built:
      | Promise<{
          job: { status: string; failure_reason: string | null };
          log: string;
          sawStepRunning: boolean;
          inCommandLines: string[];
        }>
      | undefined;
    const build = () => {
      built ??= (async () => {
        repo = createRepo();
        repo.commit({ ".circleci/config.yml": CONFIG });
        const project = JSON.parse(
          (
            await api("/api/v1/projects", {
              method: "POST",
              json: { name: "e2e-secrets", repo_url: repo.bare },
            })
          ).text,
        );
        expect(project.id).toBeString();
        expect(
          (
            await api(`/api/v1/projects/${project.id}/envvars`, {
              method: "POST",
              json: { name: "API_KEY", value: SECRETS.API_KEY },
            })
          ).status,
        ).toBe(201);
        const ctx = JSON.parse(
          (await api("/api/v1/contexts", { method: "POST", json: { name: "e2e" } })).text,
        );
        expect(
          (
            await api(`/api/v1/contexts/${ctx.id}/envvars`, {
              method: "POST",
              json: { name: "DEPLOY_TOKEN", value: SECRETS.DEPLOY_TOKEN },
            })
          ).status,
        ).toBe(201);
        const pipeline = JSON.parse(
          (
            await api(`/api/v1/projects/${project.id}/pipelines`, {
              method: "POST",
              json: { branch: "main" },
            })
          ).text,
        );
        jobId = pipeline.jobs[0].id;

        const { token } = JSON.parse(
          (await api("/api/v1/builders/registration-tokens", { method: "POST" })).text,
        );
        const identity = join(builderDir, "builder.json");
        const reg = spawnSync(
          process.execPath,
          [
            join(root, "builder/cli.ts"),
            "register",
            "--server",
            server.url,
            "--token",
            token,
            "--config",
            identity,
            "--name",
            "e2e",
            ...setup.registerArgs(),
          ],
          { encoding: "utf8" },
        );
        expect(reg.stderr).toBe("");
        expect(reg.status).toBe(0);
        builder = spawn(process.execPath, [join(root, "builder/cli.ts"), "run", "--config", identity], {
          stdio: "pipe",
          env: { ...process.env, ...setup.runEnv?.(builderDir) },
        });
        builder.stdout?.on("data", (d) => (builderOut += d));
        builder.stderr?.on("data", (d) => (builderOut += d));

        let sawStepRunning = false;
        const inCommandLines = new Set<string>();
        // Minutes: a safety net for a loaded machine (the job takes seconds), not a speed claim.
        const job = await until(
          "the secrets job to finish",
          async (note) => {
            const j = JSON.parse((await api(`/api/v1/jobs/${jobId}`)).text) as {
              status: string;
              failure_reason: string | null;
            };
            note(`job ${jobId} ${j.status}; builder (tail): ${builderOut.slice(-1000)}`);
            if (!["queued", "running"].includes(j.status)) return j;
            // While the step sleeps, its secrets are in its environment: none may show in any command line.
            if ((await api(`/api/v1/jobs/${jobId}/log?format=text`)).text.includes("waiting")) {
              sawStepRunning = true;
              const ps = processList();
              for (const [name, v] of Object.entries(SECRETS)) if (ps.includes(v)) inCommandLines.add(name);
            }
          },
          240_000,
        );
        const log = (await api(`/api/v1/jobs/${jobId}/log?format=text`)).text;
        if (job.status !== "success")
          throw new Error(`job ${job.status}: ${job.failure_reason}\n${log}\n--- builder:\n${builderOut}`);
        builder.kill("SIGTERM");
        await new Promise((r) => builder?.once("exit", r));
        return { job, log, sawStepRunning, inCommandLines: [...inCommandLines] };
      })();
      return built;
    };

    test("a build gets its secrets as environment, and its log shows them masked", async () => {
      const { job, log, sawStepRunning, inCommandLines } = await build();
      // While the step ran, its secrets were in its environment: none showed in any command line.
      expect(inCommandLines).toEqual([]);
      expect(sawStepRunning).toBe(true);
      expect({ status: job.status, reason: job.failure_reason }).toEqual({ status: "success", reason: null });
      // The steps had the values: their hashes are in the log...
      expect(log).toContain(`sha:${sha256(SECRETS.API_KEY)}`);
      expect(log).toContain(`ctxsha:${sha256(SECRETS.DEPLOY_TOKEN)}`);
      // ...and the values themselves, in clear or base64, are masked.
      expect(log).toContain(`plain:${MASK}`);
      expect(log).toContain(`ctx:${MASK}`);
      expect(log).toContain("b64:");
      for (const v of Object.values(SECRETS)) for (const f of forms(v)) expect(log).not.toContain(f);
    }, 420_000); // a safety net only: the build's wait fails first, saying what it saw

    test("no value is left in the libSQL files, the data dir, the blob store or any process output", async () => {
      await build();
      await server.stop(); // flush and close the database first
      const files = readdirSync(dataDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
      const names = files.map((e) => e.name);
      expect(names).toContain("cairn.db");
      expect(names.some((n) => n.endsWith(".ndjson"))).toBe(true); // the archived log in the blob store
      const haystacks: [string, Buffer][] = files.map((e) => [
        join(e.parentPath, e.name),
        readFileSync(join(e.parentPath, e.name)),
      ]);
      haystacks.push(
        ["server output", Buffer.from(server.output())],
        ["builder output", Buffer.from(builderOut)],
      );
      expect(server.output()).toContain("listening on");
      for (const [where, bytes] of haystacks) {
        for (const v of Object.values(SECRETS)) {
          for (const f of forms(v)) {
            if (bytes.includes(Buffer.from(f))) throw new Error(`${where} contains a form of a secret value`);
          }
        }
      }
    }, 420_000); // a safety net only: the build's wait fails first, saying what it saw
  });
