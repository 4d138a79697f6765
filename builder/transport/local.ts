// The `local` host transport: the fleet host is this machine (`npm start` on one box, no sshd).

import { spawn } from "node:child_process";
import { constants } from "node:os";
import type {
  ExecOptions,
  ExecResult,
  HostTransport,
  Interactive,
  InteractiveOptions,
} from "../driver/types.ts";
import { CappedOutput } from "./output.ts";
import { assertEnvNames, shellCommand, toBytes } from "./shell.ts";

/** Runs argv directly (no shell); env is handed to the child's environment, never its argv. */
export function createLocalTransport(): HostTransport {
  return {
    kind: "local",
    exec: (argv, opts = {}) => execLocal(argv, opts),
    interactive: async (argv, opts = {}) => interactiveLocal(argv, opts),
    close: async () => {},
  };
}

function execLocal(argv: string[], opts: ExecOptions): Promise<ExecResult> {
  if (argv.length === 0) return Promise.reject(new Error("exec needs a command (argv is empty)"));
  if (opts.env) assertEnvNames(opts.env);
  const stdout = new CappedOutput();
  const stderr = new CappedOutput();
  return new Promise<ExecResult>((resolve) => {
    // detached: the child leads its own process group, so an abort kills it and its children.
    const child = spawn(argv[0], argv.slice(1), {
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    let settled = false;
    const finish = (code: number, extra = "") => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener("abort", onAbort);
      if (extra) stderr.add(new TextEncoder().encode(extra));
      resolve({ code, stdout: stdout.text(), stderr: stderr.text() });
    };
    const onAbort = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    child.stdout.on("data", (b: Buffer) => {
      stdout.add(b);
      opts.onStdout?.(b);
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr.add(b);
      opts.onStderr?.(b);
    });
    // Like a shell: a command that cannot be started is exit 127 with the reason on stderr.
    child.on("error", (err) => finish(127, `cairn: cannot run ${argv[0]}: ${err.message}\n`));
    child.on("close", (code, signal) => {
      finish(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1));
    });
    child.stdin.on("error", () => {}); // the command may exit without reading its stdin
    child.stdin.end(toBytes(opts.stdin));
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * An interactive command on this machine. A terminal comes from util-linux `script`, which runs
 * the command on a fresh pty (Node has no pty of its own); its size is fixed at the start.
 */
function interactiveLocal(argv: string[], opts: InteractiveOptions): Interactive {
  const pty = opts.pty;
  const child = pty
    ? spawn(
        "script",
        [
          "-qfec",
          `stty rows ${pty.rows} cols ${pty.cols} 2>/dev/null; exec ${shellCommand(argv)}`,
          "/dev/null",
        ],
        {
          env: { ...process.env, TERM: pty.term },
          stdio: ["pipe", "pipe", "pipe"],
          detached: true,
        },
      )
    : spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], detached: true });
  child.stdin.on("error", () => {});
  return {
    write: (b) => void child.stdin.write(b),
    end: () => child.stdin.end(),
    resize: () => {},
    onData(cb) {
      child.stdout.on("data", cb);
      child.stderr.on("data", cb);
    },
    onExit(cb) {
      child.on("close", (code, signal) => cb(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));
    },
    kill() {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    },
  };
}
