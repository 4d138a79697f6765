// A real builder daemon in its own process (`bun builder/cli.ts run`), registered with a one-time
// token from the server, driving LXC through the test's sshd — or locally with the process driver.
// Registration is spawned asynchronously: the server answering it may run in the test's own event loop.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testLxcPath } from "../harness/lxc.ts";
import { sweepOnce } from "../harness/runs.ts";
import type { TestSshd } from "../harness/sshd.ts";

const root = join(import.meta.dir, "..", "..");

export interface BuilderProcess {
  id: string;
  child: ChildProcess;
  output(): string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

function run(args: string[], env?: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code) => resolve({ code, out }));
  });
}

export async function startBuilder(opts: {
  server: string;
  adminToken: string;
  name: string;
  slots?: number;
  /** LXC through this sshd, in testLxcPath() unless extraArgs say `--lxc-path`; without it, the process driver on this machine. */
  sshd?: TestSshd;
  /** `--lxc-host` specs: one builder driving several LXC hosts (instead of `sshd`). */
  lxcHosts?: string[];
  extraArgs?: string[];
  /** Added to the builder's environment: `TMPDIR` gives a process-driver builder sandboxes of its own. */
  env?: Record<string, string>;
}): Promise<BuilderProcess> {
  // The builder carries this run's mark (tests/harness/runs.ts): a sweep after a kill finds it.
  await sweepOnce();
  const res = await fetch(`${opts.server}/api/v1/builders/registration-tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${opts.adminToken}` },
  });
  const { token } = (await res.json()) as { token: string };
  const dir = mkdtempSync(join(tmpdir(), "cairn-builder-"));
  const config = join(dir, "builder.json");
  const args = [
    join(root, "builder/cli.ts"),
    "register",
    "--server",
    opts.server,
    "--token",
    token,
    "--config",
    config,
  ];
  args.push("--name", opts.name);
  // A test run on another template (CAIRN_TEMPLATE) checks and clones that one.
  if (process.env.CAIRN_TEMPLATE) args.push("--template", process.env.CAIRN_TEMPLATE);
  if (!opts.lxcHosts) args.push("--slots", String(opts.slots ?? 1));
  if (opts.sshd) {
    const s = opts.sshd;
    args.push(
      "--driver",
      "lxc",
      "--ssh-host",
      s.host,
      "--ssh-port",
      String(s.port),
      "--ssh-user",
      s.username,
    );
    args.push("--ssh-key", s.clientKeyPath, "--ssh-host-key", s.hostPublicKey);
    // The test process's own lxcpath unless the test names one (tests/harness/lxc.ts).
    if (!opts.extraArgs?.includes("--lxc-path")) args.push("--lxc-path", testLxcPath());
  } else if (opts.lxcHosts) {
    for (const spec of opts.lxcHosts) args.push("--lxc-host", spec);
  } else {
    args.push("--driver", "process");
  }
  // The egress-only NAT bridge is an LXC builder's default; tests that want it name a bridge of
  // their own (`--bridge`, tests/nat-bridge.e2e.test.ts), never the host's cairn0.
  const wantsNat = opts.extraArgs?.some((a) => a === "--network" || a === "--bridge");
  if ((opts.sshd || opts.lxcHosts) && !wantsNat) args.push("--network", "none");
  const reg = await run([...args, ...(opts.extraArgs ?? [])], opts.env);
  if (reg.code !== 0) throw new Error(`builder registration failed:\n${reg.out}`);
  const id = /\(([0-9a-f-]{36})\)/.exec(reg.out)?.[1] ?? "";
  const child = spawn(process.execPath, [join(root, "builder/cli.ts"), "run", "--config", config], {
    stdio: "pipe",
    env: { ...process.env, ...opts.env },
  });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    id,
    child,
    output: () => out,
    async kill9() {
      if (alive()) child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (alive()) child.kill("SIGTERM");
      await Promise.race([exited, Bun.sleep(10_000)]);
      if (alive()) child.kill("SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The process driver over the local transport (the shape source-control tests use). */
export function startBuilderProcess(
  serverUrl: string,
  adminToken: string,
  name = "test-builder",
  extraArgs: string[] = [],
) {
  return startBuilder({ server: serverUrl, adminToken, name, extraArgs });
}
