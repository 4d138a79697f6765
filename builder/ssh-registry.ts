// Which of this builder's jobs can be entered over SSH, and how many sessions each has: the
// meeting point of the job runner (which holds containers open) and the SSH server.
import type { Sandbox } from "./driver/types.ts";

interface Entry {
  sandbox: Sandbox;
  workdir: string;
  sessions: number;
  opened: number;
  changed: () => void;
}

export class SshRegistry {
  private readonly jobs = new Map<string, Entry>();

  register(jobId: string, sandbox: Sandbox, workdir: string): void {
    this.jobs.set(jobId, { sandbox, workdir, sessions: 0, opened: 0, changed: () => {} });
  }

  unregister(jobId: string): void {
    this.jobs.delete(jobId);
  }

  sandboxFor(jobId: string): { sandbox: Sandbox; workdir: string } | undefined {
    return this.jobs.get(jobId);
  }

  session(jobId: string, event: "opened" | "closed"): void {
    const e = this.jobs.get(jobId);
    if (!e) return;
    if (event === "opened") {
      e.sessions++;
      e.opened++;
    } else e.sessions = Math.max(0, e.sessions - 1);
    e.changed();
  }

  /** Holds the container until the window ends, or early once the last session has closed. */
  hold(
    jobId: string,
    windowMs: number,
    signal: AbortSignal,
  ): Promise<"window" | "sessions-closed" | "aborted"> {
    const e = this.jobs.get(jobId);
    if (!e) return Promise.resolve("aborted");
    return new Promise((resolve) => {
      const done = (why: "window" | "sessions-closed" | "aborted") => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        e.changed = () => {};
        resolve(why);
      };
      const onAbort = () => done("aborted");
      const timer = setTimeout(() => done("window"), windowMs);
      e.changed = () => {
        if (e.opened > 0 && e.sessions === 0) done("sessions-closed");
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}
