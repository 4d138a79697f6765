// Child processes of the fanout benchmark: spawned with Bun, JSON-line messages read from stdout,
// commands written to stdin, always killed at the end.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export class Child<M extends { type: string }> {
  private readonly proc: ReturnType<typeof Bun.spawn<"pipe", "pipe", "pipe">>;
  private readonly messages: M[] = [];
  /** Set when stdout has been read to its end. */
  private stdoutDone = false;
  private waiters: (() => void)[] = [];
  private stderr = "";
  readonly exited: Promise<number>;

  constructor(
    readonly name: string,
    script: string,
    config: unknown,
  ) {
    // The config goes in a file: 10,000 connections' job ids exceed one argument's size limit.
    const file = join(mkdtempSync(join(tmpdir(), "cairn-fanout-child-")), "config.json");
    writeFileSync(file, JSON.stringify(config));
    this.proc = Bun.spawn([process.execPath, join(import.meta.dir, script), file], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      // Bun's fetch caps concurrent requests at 256 unless told otherwise.
      env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "65535" },
    });
    this.exited = this.proc.exited;
    this.exited.finally(() => rmSync(dirname(file), { recursive: true, force: true }));
    this.pump().finally(() => {
      this.stdoutDone = true;
      this.wake();
    });
    this.readStderr(this.proc.stderr);
    this.exited.then(() => this.wake());
  }

  get pid(): number {
    return this.proc.pid;
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async readStderr(stream: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder();
    for await (const piece of stream)
      this.stderr = (this.stderr + decoder.decode(piece, { stream: true })).slice(-4000);
  }

  private async pump() {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const piece of this.proc.stdout) {
      buf += decoder.decode(piece, { stream: true });
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("{")) this.messages.push(JSON.parse(line) as M);
        this.wake();
      }
    }
  }

  /** The next message of this type (in arrival order), or an error after `ms` or if the child exits. */
  async next<T extends M["type"]>(type: T, ms: number): Promise<Extract<M, { type: T }>> {
    const until = Date.now() + ms;
    for (;;) {
      const i = this.messages.findIndex((m) => m.type === type);
      if (i >= 0) return this.messages.splice(i, 1)[0] as Extract<M, { type: T }>;
      // Exited and every message it printed read: it will not come.
      if (this.proc.exitCode !== null && this.stdoutDone)
        throw new Error(`${this.name} exited (${this.proc.exitCode}) before "${type}":\n${this.stderr}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no "${type}" within ${ms} ms:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(line: string): void {
    try {
      this.proc.stdin.write(`${line}\n`);
      this.proc.stdin.flush();
    } catch {
      // already gone
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within `ms`. */
  async kill(ms = 2000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode) return;
    this.proc.kill("SIGTERM");
    const done = await Promise.race([this.exited.then(() => true), Bun.sleep(ms).then(() => false)]);
    if (!done) {
      this.proc.kill("SIGKILL");
      await this.exited;
    }
  }
}
