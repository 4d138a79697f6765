// The process driver for real: temp directories, `unshare` where the kernel allows it.

import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createProcessDriver } from "./process.ts";
import type { Sandbox, StepSpec } from "./types.ts";

// bunfig.toml's [test] timeout is not read by this Bun; cross-process tests need more than 5 s.
setDefaultTimeout(60_000);

/** Runs a step and collects its output as text; `onOutput` sees the output so far as it grows. */
async function runStep(
  sandbox: Sandbox,
  step: Partial<StepSpec> & { script: string },
  signal?: AbortSignal,
  onOutput?: (soFar: string) => void,
) {
  let output = "";
  const code = await sandbox.run(
    { workdir: "~", env: {}, ...step },
    {
      onOutput: (b) => {
        output += new TextDecoder().decode(b);
        onOutput?.(output);
      },
      signal,
    },
  );
  return { code, output };
}

/** Waits for `done()`, checking every 50 ms; past a generous 20 s, fails saying what it saw. */
async function until(done: () => boolean, what: string, saw: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`waited 20 s for ${what}; saw: ${saw()}`);
    await Bun.sleep(50);
  }
}

describe("process driver", () => {
  let base: string;
  let driver: ReturnType<typeof createProcessDriver>;
  let sandbox: Sandbox;

  // Each test gets its own base directory and sandbox: none depends on what another left.
  beforeEach(async () => {
    base = mkdtempSync(join(tmpdir(), "cairn-process-test-"));
    driver = createProcessDriver({ baseDir: base });
    await driver.check();
    sandbox = await driver.create({ name: "job-1" });
  });
  afterEach(async () => {
    await sandbox?.destroy();
    rmSync(base, { recursive: true, force: true });
  });

  test("sandboxes are named cairn-*, marked unsandboxed, one directory each", () => {
    expect(sandbox.name).toBe("cairn-job-1");
    expect(sandbox.unsandboxed).toBe(true);
    expect(readdirSync(base)).toEqual(["cairn-job-1"]);
  });

  test("putTree and container-style paths land inside the sandbox directory", async () => {
    const src = mkdtempSync(join(tmpdir(), "cairn-src-"));
    writeFileSync(join(src, "README"), "from the checkout\n");
    mkdirSync(join(src, "lib"));
    writeFileSync(join(src, "lib", "x"), "x\n");
    await sandbox.putTree(src, "~/project");
    rmSync(src, { recursive: true, force: true });
    const a = await runStep(sandbox, { script: 'cat README lib/x; echo "$PWD"', workdir: "~/project" });
    expect(a.code).toBe(0);
    expect(a.output).toBe(`from the checkout\nx\n${join(base, "cairn-job-1", "root", "project")}\n`);
    // An absolute container path means the same place.
    expect((await runStep(sandbox, { script: "cat README", workdir: "/root/project" })).output).toBe(
      "from the checkout\n",
    );
  });

  test("steps see exactly their env plus defaults, never the daemon's", async () => {
    process.env.CAIRN_DAEMON_ONLY = "daemon-secret";
    try {
      const r = await runStep(sandbox, {
        script: 'echo "$A|${CAIRN_DAEMON_ONLY:-unset}|$HOME"',
        env: { A: "it's a\nvalue" },
      });
      expect(r.output).toBe(`it's a\nvalue|unset|${join(base, "cairn-job-1", "root")}\n`);
    } finally {
      delete process.env.CAIRN_DAEMON_ONLY;
    }
  });

  test("exit codes and a custom shell", async () => {
    expect((await runStep(sandbox, { script: "exit 9" })).code).toBe(9);
    expect((await runStep(sandbox, { script: "false | true\necho no" })).code).toBe(1);
    expect((await runStep(sandbox, { script: "false | true\necho yes", shell: "/bin/sh -e" })).output).toBe(
      "yes\n",
    );
  });

  test("output streams, merged and in order, before the step ends", async () => {
    // The step cannot end before the test has seen its first two lines: buffered output would hang.
    const gate = join(base, "cairn-job-1", "tmp", "gate");
    const r = await runStep(
      sandbox,
      { script: `echo one; echo two >&2; while [ ! -e ${gate} ]; do sleep 0.05; done; echo three` },
      undefined,
      (soFar) => {
        if (soFar === "one\ntwo\n") writeFileSync(gate, "");
      },
    );
    expect(r).toMatchObject({ code: 0, output: "one\ntwo\nthree\n" });
  });

  test("abort kills the step and what it started", async () => {
    const ac = new AbortController();
    // A unique duration names this test's processes; a killed step would leave its child running.
    const marker = `600.${process.pid}${Math.floor(Math.random() * 1e6)}`;
    const running = runStep(
      sandbox,
      { script: `sleep ${marker} & echo started; sleep ${marker}` },
      ac.signal,
      (o) => {
        if (o.includes("started")) ac.abort();
      },
    );
    expect((await running).code).toBe(137);
    const left = () => spawnSync("pgrep", ["-f", `sleep ${marker}`]).stdout.toString();
    // The kill is sent before the step reports 137; the kernel may take a moment to reap.
    await until(
      () => left() === "",
      "the step's processes to be gone",
      () => `pids ${left()}`,
    );
  });

  test("with network isolation, a step cannot reach the host's 127.0.0.1", async () => {
    const prefix = await driver.isolation();
    if (!prefix.includes("--net")) return; // this kernel allows no namespaces; nothing to prove
    let connections = 0;
    const server = createServer((s) => {
      connections++;
      s.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await runStep(sandbox, {
        script: `if timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2>/dev/null; then echo reached; else echo refused; fi`,
      });
      expect(r.output).toBe("refused\n");
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });

  test("destroy removes the directory; reapOrphans removes strays and keeps the rest", async () => {
    const other = await driver.create({ name: "job-2" });
    const stray = await driver.create({ name: "job-3" });
    await other.destroy();
    await other.destroy();
    expect(readdirSync(base).sort()).toEqual(["cairn-job-1", "cairn-job-3"]);
    expect(await driver.reapOrphans(new Set([sandbox.name]))).toEqual([stray.name]);
    expect(readdirSync(base)).toEqual(["cairn-job-1"]);
  });
});

test("two builders on one machine: each reaps only its own sandboxes", async () => {
  const owner = (n: string) => `test-${process.pid}-${n}-${Math.random().toString(36).slice(2, 8)}`;
  const a = createProcessDriver({ owner: owner("a"), isolation: "none" });
  const b = createProcessDriver({ owner: owner("b"), isolation: "none" });
  const running = await a.create({ name: "shared-name" });
  const orphan = await b.create({ name: "shared-name" });
  try {
    // b starts up knowing none of its sandboxes: it reaps its own leftover, never a's running job.
    expect(await b.reapOrphans(new Set())).toEqual([orphan.name]);
    expect(
      await running.run(
        { script: "echo still here", shell: "/bin/sh", workdir: "~", env: {} },
        { onOutput: () => {} },
      ),
    ).toBe(0);
  } finally {
    await running.destroy();
    await orphan.destroy();
  }
});
