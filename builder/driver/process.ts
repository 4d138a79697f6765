// The `process` driver: the fallback where LXC cannot run (no root, no lxc). Each sandbox is a
// throwaway directory; steps run in fresh namespaces via `unshare` when the kernel allows it
// (own PID tree, no network), otherwise as plain processes. It shares the host's filesystem
// either way, so every sandbox says `unsandboxed: true` and the API and UI show it.

import { spawn } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import { isAbsolute, join, normalize } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createLocalTransport } from "../transport/local.ts";
import { SANDBOX_PREFIX, sandboxName } from "./sandbox-name.ts";
import { SANDBOX_SH_PRELUDE, STEP_RUNNER, shellWords, stepEnv } from "./step-runner.ts";
import type { Driver, Sandbox, Spool, StepIO, StepSpec } from "./types.ts";

export interface ProcessDriverOptions {
  /** Directory holding one subdirectory per sandbox. */
  baseDir?: string;
  /**
   * The builder this driver serves: its sandboxes live in a directory of its own under the default
   * base, so its orphan reaper never removes another builder's (two builders on one machine).
   */
  owner?: string;
  /** `auto` uses the strongest `unshare` isolation that works here; `none` skips it. */
  isolation?: "auto" | "none";
}

/** Tried in order; the first that runs `/bin/true` is used. --kill-child ends the step's tree. */
const ISOLATION_CANDIDATES: string[][] = [
  ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--mount-proc", "--net", "--"],
  ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--net", "--"],
  ["unshare", "--user", "--map-root-user", "--net", "--"],
  ["unshare", "--net", "--"],
];

export function createProcessDriver(options: ProcessDriverOptions = {}): Driver & {
  /** The `unshare` prefix steps run under ([] when none works); probed on first use. */
  isolation(): Promise<string[]>;
} {
  const baseDir =
    options.baseDir ?? join(tmpdir(), "cairn-sandboxes", ...(options.owner ? [options.owner] : []));
  let isolation: Promise<string[]> | undefined;
  const probeIsolation = () => {
    isolation ??= options.isolation === "none" ? Promise.resolve([]) : firstWorking(ISOLATION_CANDIDATES);
    return isolation;
  };

  function sandbox(name: string, dir: string): Sandbox {
    const home = join(dir, "root");
    const tmp = join(dir, "tmp");
    // Container paths map into the sandbox directory: `/root/project` and `~/project` both
    // become <dir>/root/project, so configs written for LXC work unchanged.
    const inside = (path: string) => {
      if (path === "~" || path.startsWith("~/")) return join(home, path.slice(1));
      return isAbsolute(path) ? join(dir, normalize(path)) : join(home, path);
    };
    return {
      name,
      unsandboxed: true,

      async attach(opts) {
        // SSH into the build: a login shell under the steps' own isolation, in the job's directory,
        // with the steps' clean environment (`env -i`: nothing of the daemon's, no job secrets).
        const prefix = await probeIsolation();
        const env = { ...stepEnv({}, home), TMPDIR: tmp, TERM: opts.pty?.term ?? "dumb" };
        const argv = [
          "env",
          "-i",
          ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
          ...prefix,
          "/bin/sh",
          "-c",
          `cd "$1" 2>/dev/null; ${opts.command ?? 'exec "$(command -v bash || echo /bin/sh)" -l'}`,
          "cairn-ssh",
          inside(opts.workdir ?? "~"),
        ];
        return createLocalTransport().interactive(argv, { pty: opts.pty });
      },

      async putTree(hostDir, dest) {
        const target = inside(dest);
        await mkdir(target, { recursive: true });
        await cp(hostDir, target, { recursive: true, verbatimSymlinks: true, force: true });
      },

      async run(step: StepSpec, io: StepIO) {
        const prefix = await probeIsolation();
        const env = { ...stepEnv(step.env, home), TMPDIR: tmp };
        const argv = [
          ...prefix,
          "/bin/sh",
          "-c",
          STEP_RUNNER,
          "cairn-step",
          inside(step.workdir),
          ...shellWords(step.shell),
        ];
        return spawnStep(argv, env, step.script, io, dir);
      },

      async capture(script, args) {
        const spoolDir = await mkdtemp(join(tmpdir(), "cairn-spool."));
        const file = join(spoolDir, "out");
        try {
          const out = createWriteStream(file, { mode: 0o600 });
          await shellIn(script, args.map(sandboxArg), { HOME: home, TMPDIR: tmp }, dir, undefined, out);
          return localSpool(spoolDir, file, (await stat(file)).size);
        } catch (err) {
          await rm(spoolDir, { recursive: true, force: true });
          throw err;
        }
      },

      async feed(script, args, input) {
        await shellIn(script, args.map(sandboxArg), { HOME: home, TMPDIR: tmp }, dir, input);
      },

      async destroy() {
        await rm(dir, { recursive: true, force: true });
      },
    };

    function sandboxArg(arg: string): string {
      return arg.startsWith("/") || arg === "~" || arg.startsWith("~/") ? inside(arg) : arg;
    }
  }

  return {
    kind: "process",
    isolation: probeIsolation,

    async check() {
      await mkdir(baseDir, { recursive: true });
      if ((await run(["/bin/sh", "-c", "true"])) !== 0) throw new Error("cannot run /bin/sh on this host");
    },

    async create(opts) {
      const name = sandboxName(opts.name);
      const dir = join(baseDir, name);
      await rm(dir, { recursive: true, force: true });
      await mkdir(join(dir, "root"), { recursive: true, mode: 0o700 });
      await mkdir(join(dir, "tmp"), { recursive: true });
      return sandbox(name, dir);
    },

    async reapOrphans(keep) {
      const names = await readdir(baseDir).catch(() => [] as string[]);
      const orphans = names.filter((n) => n.startsWith(SANDBOX_PREFIX) && !keep.has(n));
      await Promise.all(orphans.map((n) => rm(join(baseDir, n), { recursive: true, force: true })));
      return orphans;
    },
  };
}

/** Runs a step with exactly `env` (never the daemon's own environment), merged output. */
function spawnStep(argv: string[], env: Record<string, string>, script: string, io: StepIO, cwd: string) {
  return new Promise<number>((resolve) => {
    if (io.signal?.aborted) return resolve(137);
    // detached: the step leads its own process group, so an abort reaches all of it.
    const child = spawn(argv[0], argv.slice(1), {
      env,
      cwd,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    io.signal?.addEventListener("abort", kill, { once: true });
    child.stdout.on("data", (b: Buffer) => io.onOutput(b));
    child.stderr.on("data", (b: Buffer) => io.onOutput(b));
    child.on("error", (err) => {
      io.onOutput(new TextEncoder().encode(`cairn: cannot start the step: ${err.message}\n`));
      resolve(127);
    });
    child.on("close", (code, signal) => {
      io.signal?.removeEventListener("abort", kill);
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
    child.stdin.on("error", () => {});
    child.stdin.end(script);
  });
}

/** `/bin/sh -c script` with stdin from `input` and stdout to `out` (both streamed); throws with stderr on failure. */
function shellIn(
  script: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
  input?: ReadableStream<Uint8Array>,
  out?: NodeJS.WritableStream,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", SANDBOX_SH_PRELUDE + script, "cairn-sh", ...args], {
      env: stepEnv(env, env.HOME),
      cwd,
      stdio: [input ? "pipe" : "ignore", out ? "pipe" : "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => {
      if (stderr.length < 65_536) stderr += b.toString();
    });
    const piped: Promise<unknown>[] = [];
    if (input && child.stdin) {
      piped.push(
        pipeline(
          Readable.fromWeb(input as unknown as import("node:stream/web").ReadableStream<Uint8Array>),
          child.stdin,
        ).catch(() => {}),
      );
    }
    if (out && child.stdout) piped.push(pipeline(child.stdout, out));
    child.on("error", reject);
    child.on("close", async (code) => {
      await Promise.all(piped).catch(reject);
      if (code === 0) resolve();
      else reject(new Error(stderr.trim() || `the command failed (exit ${code})`));
    });
  });
}

function localSpool(dir: string, file: string, size: number): Spool {
  return {
    size,
    stream: () => Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array>,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

function run(argv: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: "ignore" });
    child.on("error", () => resolve(127));
    child.on("close", (code) => resolve(code ?? 128));
  });
}

async function firstWorking(candidates: string[][]): Promise<string[]> {
  for (const prefix of candidates) {
    if ((await run([...prefix, "/bin/true"])) === 0) return prefix;
  }
  return [];
}
