// What both sides of `bench:compare` share: the jobs, what one run of a job reports, and the
// memory readings from /proc that put a Python master and a Bun server on the same scale.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";

export const now = () => performance.timeOrigin + performance.now();

/** The machine's load average (1, 5, 15 min), as a benchmark records it beside its figures. */
export const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** The short commit of the checkout at `dir`, or "unknown". */
export function commitOf(dir: string): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: dir, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

/**
 * What a benchmark started, stopped in any case: `track` each stop, `stopAll` in a finally; SIGINT
 * and SIGTERM stop them too (after `onSignal` says so) and exit 130.
 */
export function stopRegistry(onSignal: (sig: string) => void = () => {}) {
  const stops: (() => Promise<void>)[] = [];
  const track = (stop: () => Promise<void>) => void stops.push(stop);
  const stopAll = () => Promise.all(stops.map((stop) => stop().catch(() => {})));
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.on(sig, () => {
      onSignal(sig);
      stopAll().then(() => process.exit(130));
    });
  return { track, stopAll };
}

/** The three jobs of the comparison, named as both systems name them. */
export interface Jobs {
  /** (a) a job printing a lot: `seq 1 N` (47 MB at N = 6,000,000). */
  big: string;
  /** (b) a trivial job: one line, then done. */
  trivial: string;
  /** (c) one line, then the job keeps running for `hold` seconds. */
  running: string;
}

/** The line that jobs (b) and (c) print first; a viewer watches for it. */
export const MARKER = "cairn-bench-first-line";

export function jobCommands(seq: number, holdSeconds: number): Jobs {
  return {
    big: `seq 1 ${seq}`,
    trivial: `echo ${MARKER}`,
    running: `echo ${MARKER}; sleep ${holdSeconds}`,
  };
}

/** One run of one job, times in ms from the moment the trigger request was sent. */
export interface JobRun {
  answered_ms: number;
  /** When a viewer that connected after the trigger answered saw MARKER (jobs b and c). */
  first_line_ms?: number;
  finished_ms: number;
  status: string;
  /** Peak RSS of the server (Cairn) or master (Buildbot) during the job, in MiB. */
  server_peak_mb: number;
  /** Same, of the builder daemon (Cairn) or worker (Buildbot); the job's own processes are not in it. */
  agent_peak_mb: number;
}

export interface Contender {
  readonly name: string;
  /** What runs the job and how, for the report (driver, versions). */
  readonly describe: string;
  readonly serverPid: number;
  readonly agentPid: number;
  run(job: keyof Jobs, opts: { watchFirstLine: boolean }): Promise<JobRun>;
  stop(): Promise<void>;
}

const MiB = 2 ** 20;

function statusField(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export const rssMb = (pid: number) => statusField(pid, "VmRSS") / MiB;

/**
 * The peak RSS of a process over a span: the kernel's high-water mark (VmHWM), reset at the start
 * by writing 5 to /proc/PID/clear_refs; where that is refused, VmRSS sampled every 50 ms.
 */
export class PeakRss {
  private sampled = 0;
  private timer?: ReturnType<typeof setInterval>;
  private readonly exact: boolean;

  constructor(private readonly pid: number) {
    let reset = false;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, "5");
      reset = true;
    } catch {}
    this.exact = reset;
    this.sampled = rssMb(pid);
    if (!reset)
      this.timer = setInterval(() => {
        this.sampled = Math.max(this.sampled, rssMb(pid));
      }, 50);
  }

  stopMb(): number {
    clearInterval(this.timer);
    const last = Math.max(this.sampled, rssMb(this.pid));
    return this.exact ? Math.max(statusField(this.pid, "VmHWM") / MiB, last) : last;
  }
}

/** A free TCP port on loopback (for Buildbot's web and PB ports, which take a number). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves with `value()` once it is truthy, polling every `ms`; rejects after `timeoutMs`. */
export async function waitFor<T>(what: string, value: () => T | Promise<T>, timeoutMs: number, ms = 100) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await value();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(ms);
  }
}
