// `run` steps with `background: true`: started, not waited for; their output goes to the job's log as
// it comes, each line marked with the step's name (the log is one stream, so a later step's lines
// and theirs interleave); all of them are killed when the job's steps are done, as on CircleCI.
import type { Sandbox, StepSpec } from "./driver/types.ts";

const enc = new TextEncoder();

export class BackgroundSteps {
  private readonly running: { stop: AbortController; done: Promise<number> }[] = [];

  constructor(
    private readonly write: (bytes: Uint8Array) => void,
    private readonly jobSignal: AbortSignal,
  ) {}

  start(sandbox: Sandbox, name: string, spec: StepSpec): void {
    const stop = new AbortController();
    const signal = AbortSignal.any([this.jobSignal, stop.signal]);
    const label = enc.encode(`\x1b[2m[${name}]\x1b[0m `);
    let lineStart = true;
    const onOutput = (bytes: Uint8Array) => {
      // Mark the start of every line, including one that began in an earlier chunk's tail.
      const parts: Uint8Array[] = [];
      let from = 0;
      for (let i = 0; i < bytes.length; i++) {
        if (lineStart) {
          parts.push(label);
          lineStart = false;
        }
        if (bytes[i] === 0x0a) {
          parts.push(bytes.subarray(from, i + 1));
          from = i + 1;
          lineStart = true;
        }
      }
      if (from < bytes.length) parts.push(bytes.subarray(from));
      for (const p of parts) this.write(p);
    };
    const done = sandbox.run(spec, { signal, onOutput }).catch(() => 1);
    this.running.push({ stop, done });
  }

  /** Kills every background step still running and waits until each has ended. */
  async stopAll(): Promise<void> {
    for (const r of this.running) r.stop.abort();
    await Promise.all(this.running.map((r) => r.done));
    this.running.length = 0;
  }
}
