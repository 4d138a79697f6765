// The process driver for real: temp directories, `unshare` where the kernel allows it.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createProcessDriver } from "./process.ts";
import type { Sandbox, StepSpec } from "./types.ts";

// bunfig.toml's [test] timeout is not read by this Bun; cross-process tests need more than 5 s.
setDefaultTimeout(60_000);

async function runStep(sandbox: Sandbox, step: Partial<StepSpec> & { script: string }, signal?: AbortSignal) {
  let output = "";
  let firstAt = 0;
  const code = await sandbox.run(
    { workdir: "~", env: {}, ...step },
    {
      onOutput: (b) => {
        firstAt ||= Date.now();
        output += new TextDecoder().decode(b);
      },
      signal,
    },
  );
  return { code, output, firstAt };
}

describe("process driver", () => {
  let base: string;
  let driver: ReturnType<typeof createProcessDriver>;
  let sandbox: Sandbox;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), "cairn-process-test-"));
    driver = createProcessDriver({ baseDir: base });
    await driver.check();
    sandbox = await driver.create({ name: "job-1" });
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

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
    const started = Date.now();
    const r = await runStep(sandbox, { script: "echo one; echo two >&2; sleep 1.2; echo three" });
    expect(r.output).toBe("one\ntwo\nthree\n");
    expect(r.firstAt - started).toBeLessThan(1_000);
    expect(Date.now() - r.firstAt).toBeGreaterThan(900);
  });

  test("abort kills the step and what it started", async () => {
    const ac = new AbortController();
    const marker = join(base, "cairn-job-1", "tmp", "still-running");
    const running = runStep(sandbox, { script: `(sleep 2; touch ${marker}) & sleep 60` }, ac.signal);
    await Bun.sleep(300);
    ac.abort();
    expect((await running).code).toBe(137);
    await Bun.sleep(2_500);
    expect(existsSync(marker)).toBe(false);
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
