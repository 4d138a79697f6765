// The compiled binaries as an operator gets them: built by scripts/build.ts, copied alone into an
// empty folder, run with a PATH of the system's tools without node, bun or npm, and, as root, in a mount
// namespace where the checkout is covered by an empty tmpfs, so nothing can be read from it.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "../../scripts/build.ts";
import { waitForPlan } from "./trigger.ts";

/** The system's own tools, as on a Debian host; the JavaScript runtimes and package managers left out. */
const SYSTEM_DIRS = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
const LEFT_OUT = new Set(["node", "nodejs", "npm", "npx", "corepack", "bun", "bunx", "deno", "yarn", "pnpm"]);

export interface Install {
  /** The empty folder holding only the two binaries. */
  bin: string;
  /** The generated modules the server binary was compiled from. */
  gen: string;
  server: string;
  builder: string;
  /** The environment every binary runs with: PATH of one folder of symlinks to the system's tools minus LEFT_OUT. */
  env: Record<string, string>;
  /** When root: every binary runs in its own mount namespace with the checkout covered by an empty tmpfs. */
  hidesCheckout: boolean;
}

const checkout = join(import.meta.dir, "..", "..");

/** The command line that runs `file args` the install's way (with the checkout hidden when possible). */
export function command(install: Install, file: string, args: string[]): [string, string[]] {
  if (!install.hidesCheckout) return [file, args];
  const script = '/usr/bin/mount -t tmpfs cairn-no-checkout "$1" && shift && exec "$@"';
  return ["/usr/bin/unshare", ["--mount", "/bin/sh", "-c", script, "sh", checkout, file, ...args]];
}

/** Builds (once per test file) and installs into a fresh temp folder. */
export async function installBinaries(): Promise<Install> {
  const root = mkdtempSync(join(tmpdir(), "cairn-install-"));
  const built = await build({ quiet: true, outDir: join(root, "dist") });
  const bin = join(root, "bin");
  const tools = join(root, "tools");
  mkdirSync(bin);
  mkdirSync(tools);
  for (const f of [built.server, built.builder]) copyFileSync(f, join(bin, f.split("/").pop()!));
  const linked = new Set<string>();
  for (const d of SYSTEM_DIRS) {
    for (const name of existsSync(d) ? readdirSync(d) : []) {
      if (LEFT_OUT.has(name) || linked.has(name)) continue;
      linked.add(name);
      symlinkSync(join(d, name), join(tools, name));
    }
  }
  const home = join(root, "home");
  mkdirSync(home);
  const hidesCheckout =
    process.getuid?.() === 0 &&
    spawnSync("/usr/bin/unshare", ["--mount", "/bin/sh", "-c", 'mount -t tmpfs x "$0"', checkout]).status ===
      0;
  return {
    hidesCheckout,
    bin,
    gen: built.gen,
    server: join(bin, "cairn-server"),
    builder: join(bin, "cairn-builder"),
    env: { PATH: tools, HOME: home, TMPDIR: tmpdir(), LANG: "C.UTF-8" },
  };
}

/** `command -v` in the install's environment: which of these resolve. */
export function resolvable(install: Install, names: string[]): string[] {
  return names.filter(
    (n) => spawnSync("/bin/sh", ["-c", `command -v ${n}`], { env: install.env }).status === 0,
  );
}

export function run(
  install: Install,
  file: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const [cmd, argv] = command(install, file, args);
    const child = spawn(cmd, argv, {
      env: { ...install.env, ...env },
      cwd: install.bin,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => resolve({ code, out, err }));
  });
}

export interface Running {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function keep(child: ChildProcess): Running {
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await Promise.race([exited, Bun.sleep(10_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

export interface ServerBinary extends Running {
  url: string;
  token: string;
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
}

/** `cairn-server serve` on a free loopback port (CAIRN_PORT=0); resolves once health answers 200. */
export async function serveBinary(
  install: Install,
  dataDir: string,
  adminToken?: string,
): Promise<ServerBinary> {
  const child = spawn(...command(install, install.server, ["serve"]), {
    env: { ...install.env, CAIRN_DATA_DIR: dataDir, CAIRN_PORT: "0", CAIRN_HOST: "127.0.0.1" },
    cwd: install.bin,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const running = keep(child);
  let url = "";
  for (let i = 0; i < 200 && !url; i++) {
    url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(running.output())?.[1] ?? "";
    if (child.exitCode !== null) break;
    if (!url) await Bun.sleep(25);
  }
  if (!url) {
    await running.stop();
    throw new Error(`cairn-server serve did not start:\n${running.output()}`);
  }
  const token = adminToken ?? readFileSync(join(dataDir, "initial-admin-token"), "utf8").trim();
  const api = (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers({ ...waitForPlan(path, init.method, init.headers) });
    new Headers(init.headers).forEach((v, k) => {
      headers.set(k, v);
    });
    if (!headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(init.json);
    }
    return fetch(`${url}${path}`, { ...init, headers, body });
  };
  return { ...running, url, token, api };
}

/** `cairn-builder register` (the process driver unless `driverArgs` say otherwise) then `cairn-builder run`. */
export async function builderBinary(
  install: Install,
  server: ServerBinary,
  name: string,
  driverArgs: string[] = ["--driver", "process"],
): Promise<Running> {
  const { token } = (await (
    await server.api("/api/v1/builders/registration-tokens", { method: "POST" })
  ).json()) as {
    token: string;
  };
  const dir = mkdtempSync(join(tmpdir(), "cairn-bin-builder-"));
  const config = join(dir, "builder.json");
  const reg = await run(install, install.builder, [
    "register",
    "--server",
    server.url,
    "--token",
    token,
    "--config",
    config,
    "--name",
    name,
    ...driverArgs,
  ]);
  if (reg.code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cairn-builder register failed (${reg.code}):\n${reg.out}${reg.err}`);
  }
  // A process-driver builder's sandboxes go under its own dir (TMPDIR), removed with it on stop.
  const env = driverArgs.includes("process") ? { ...install.env, TMPDIR: dir } : install.env;
  const child = spawn(...command(install, install.builder, ["run", "--config", config]), {
    env,
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const running = keep(child);
  return {
    ...running,
    async stop() {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Job = { id: string; status: string };

/** Triggers a pipeline on `branch` and waits until every job has ended; returns the jobs. */
export async function runPipeline(
  server: ServerBinary,
  projectId: string,
  timeoutMs = 60_000,
): Promise<Job[]> {
  const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
    method: "POST",
    json: { branch: "main" },
  });
  if (res.status !== 201) throw new Error(`pipeline: ${res.status} ${await res.text()}`);
  const pipeline = (await res.json()) as { jobs: { id: string }[] };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await Promise.all(
      pipeline.jobs.map(async (j) => (await (await server.api(`/api/v1/jobs/${j.id}`)).json()) as Job),
    );
    if (jobs.every((j) => !["queued", "running"].includes(j.status))) return jobs;
    if (Date.now() > deadline)
      throw new Error(`jobs still running: ${JSON.stringify(jobs.map((j) => j.status))}`);
    await Bun.sleep(200);
  }
}

export async function logText(server: ServerBinary, jobId: string): Promise<string> {
  return (await server.api(`/api/v1/jobs/${jobId}/log?format=text`)).text();
}
