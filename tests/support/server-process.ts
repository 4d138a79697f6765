// The server as its own process (`bun server/cli.ts serve`), for tests that kill -9 and restart it.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { sweepOnce } from "../harness/runs.ts";

const root = join(import.meta.dir, "..", "..");

export interface ServerProcess {
  url: string;
  port: number;
  token: string;
  child: ChildProcess;
  output(): string;
  /** SIGKILL: no shutdown code runs. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export type Runtime = "bun" | "node" | "deno";

/** How each runtime starts the same server core. */
export function serverCommand(runtime: Runtime): string[] {
  switch (runtime) {
    case "bun":
      return [process.execPath, join(root, "server/cli.ts"), "serve"];
    case "node":
      return ["node", "--import", "tsx", join(root, "server/serve-node.ts")];
    case "deno":
      return [join(root, "node_modules/.bin/deno"), "run", "-A", join(root, "server/serve-deno.ts")];
  }
}

export async function startServerProcess(
  dataDir: string,
  opts: { port?: number; env?: Record<string, string>; runtime?: Runtime } = {},
): Promise<ServerProcess> {
  // The server carries this run's mark (tests/harness/runs.ts): a sweep after a kill finds it.
  await sweepOnce();
  const [cmd, ...args] = serverCommand(opts.runtime ?? "bun");
  const child = spawn(cmd, args, {
    cwd: root,
    env: {
      ...process.env,
      CAIRN_DATA_DIR: dataDir,
      CAIRN_PORT: String(opts.port ?? 0),
      CAIRN_HOST: "127.0.0.1",
      DENO_NO_UPDATE_CHECK: "1",
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
    const check = () => {
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on("data", check);
    child.on("exit", (code) => reject(new Error(`server exited (${code}):\n${out}`)));
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    url,
    port: Number(new URL(url).port),
    token: readFileSync(join(dataDir, "initial-admin-token"), "utf8").trim(),
    child,
    output: () => out,
    async kill9() {
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
