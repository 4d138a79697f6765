// The LXC driver for real: containers cloned from the base template, driven through the ssh
// transport and the harness sshd on 127.0.0.1, as a fleet host is.

import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanUp } from "../../tests/harness/clean-up.ts";
import {
  cairnContainers,
  destroyContainers,
  ensureBaseTemplate,
  requireLxc,
  TEMPLATE,
  testLxcPath,
} from "../../tests/harness/lxc.ts";
import { sshdLogin, startSshd, type TestSshd } from "../../tests/harness/sshd.ts";
import { createLocalTransport } from "../transport/local.ts";
import { createSshTransport } from "../transport/ssh.ts";
import { createLxcDriver } from "./lxc.ts";
import type { HostTransport, Sandbox, StepSpec } from "./types.ts";

// bunfig.toml's [test] timeout is not read by this Bun; cross-process tests need more than 5 s.
setDefaultTimeout(60_000);

const skip = await requireLxc({ sshd: true });

// This test process's own lxcpath (tests/harness/lxc.ts); it also exercises the driver's `-P` plumbing.
const LXC_PATH = skip ? "" : testLxcPath("driver");
const own = { lxcPath: LXC_PATH };

const unique = () => `t${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** Runs a step and collects its output as text; `onOutput` sees the output so far as it grows. */
async function runStep(
  sandbox: Sandbox,
  step: Partial<StepSpec> & { script: string },
  signal?: AbortSignal,
  onOutput?: (soFar: string) => void,
) {
  let output = "";
  const code = await sandbox.run(
    { workdir: "/root", env: {}, ...step },
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

/** A step that waits inside the sandbox until the test opens the gate (from a second step). */
function gate(sandbox: Sandbox) {
  const path = `/tmp/gate-${Math.random().toString(36).slice(2)}`;
  let opened: Promise<unknown> | undefined;
  return {
    wait: `while [ ! -e ${path} ]; do sleep 0.05; done`,
    open: () => {
      opened ??= runStep(sandbox, { script: `touch ${path}` });
      return opened;
    },
  };
}

describe.skipIf(skip)("lxc driver over ssh", () => {
  let sshd: TestSshd;
  let transport: HostTransport;
  let driver: ReturnType<typeof createLxcDriver>;
  let sandbox: Sandbox;
  let checkout: string;

  beforeAll(async () => {
    await ensureBaseTemplate(own);
    sshd = await startSshd();
    transport = await createSshTransport(sshdLogin(sshd));
    driver = createLxcDriver({ transport, template: TEMPLATE, lxcPath: LXC_PATH });
    checkout = mkdtempSync(join(tmpdir(), "cairn-checkout-"));
    mkdirSync(join(checkout, "src"));
    writeFileSync(join(checkout, "README"), "hello from the checkout\n");
    writeFileSync(join(checkout, "src", "main.sh"), "echo main ran\n", { mode: 0o755 });
    symlinkSync("src/main.sh", join(checkout, "run.sh"));
  });

  // Each test has a container of its own: nothing one test does inside it reaches the next.
  beforeEach(async () => {
    sandbox = await driver.create({ name: unique() });
  });
  afterEach(async () => {
    await sandbox?.destroy();
  });

  afterAll(() =>
    cleanUp([
      () => destroyContainers(own), // whatever a failed test left
      () => transport?.close(),
      () => sshd?.stop(),
      () => checkout && rmSync(checkout, { recursive: true, force: true }),
    ]),
  );

  test("check() passes on a prepared host and names a missing template", async () => {
    await driver.check();
    const wrong = createLxcDriver({ transport, template: "cairn-no-such-template", lxcPath: LXC_PATH });
    await expect(wrong.check()).rejects.toThrow(/template container cairn-no-such-template does not exist/);
  });

  test("create() gives a running cairn-* container that is sandboxed", async () => {
    expect(sandbox.name).toStartWith("cairn-");
    expect(sandbox.unsandboxed).toBe(false);
    expect(await cairnContainers(own)).toContain(sandbox.name);
  });

  test("putTree hands a host directory in, symlinks and modes intact", async () => {
    await sandbox.putTree(checkout, "~/project");
    const r = await runStep(sandbox, {
      script: "cat README; ./run.sh; test -L run.sh",
      workdir: "~/project",
    });
    expect(r).toMatchObject({ code: 0, output: "hello from the checkout\nmain ran\n" });
  });

  test("steps get their env and workdir, and only that env", async () => {
    const r = await runStep(sandbox, {
      script: 'pwd; echo "$GREETING|$MULTI"; env | grep -c SSH_ || true',
      workdir: "/root/work/dir",
      env: { GREETING: 'it\'s "hi"', MULTI: "a\nb" },
    });
    expect(r.code).toBe(0);
    // sshd's own session variables (SSH_*) must not leak into the step.
    expect(r.output).toBe('/root/work/dir\nit\'s "hi"|a\nb\n0\n');
  });

  test("a secret in the step env appears in no host process list", async () => {
    const secret = `cairn-secret-${Math.random().toString(36).slice(2)}`;
    const g = gate(sandbox);
    let ready!: () => void;
    const started = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const running = runStep(
      sandbox,
      { script: `echo ready; ${g.wait}; test -n "$TOKEN" && echo has-token`, env: { TOKEN: secret } },
      undefined,
      (o) => o.includes("ready") && ready(),
    );
    await started;
    const ps = spawnSync("ps", ["axww", "-o", "args"]).stdout.toString();
    await g.open();
    expect(ps).toContain("lxc-attach");
    expect(ps).not.toContain(secret);
    expect((await running).output).toBe("ready\nhas-token\n");
  });

  test("create() refuses a taken name or a missing template, clearly, harming nothing", async () => {
    await expect(driver.create({ name: sandbox.name })).rejects.toThrow(
      `container ${sandbox.name} already exists`,
    );
    expect((await runStep(sandbox, { script: "echo alive" })).output).toBe("alive\n");
    await expect(driver.create({ name: unique(), template: "cairn-no-such-template" })).rejects.toThrow(
      "template container cairn-no-such-template does not exist",
    );
  });

  test("exit codes: failure, bash -eo pipefail by default, custom shell", async () => {
    expect((await runStep(sandbox, { script: "exit 7" })).code).toBe(7);
    expect((await runStep(sandbox, { script: "false | true\necho not reached" })).code).toBe(1);
    const sh = await runStep(sandbox, { script: "false | true\necho reached", shell: "/bin/sh -e" });
    expect(sh).toMatchObject({ code: 0, output: "reached\n" });
  });

  test("stdout and stderr arrive merged, in order, before the step ends", async () => {
    // The step cannot end before the test has seen its first two lines: buffered output would hang.
    const g = gate(sandbox);
    const r = await runStep(
      sandbox,
      { script: `echo one; echo two >&2; ${g.wait}; echo three` },
      undefined,
      (o) => {
        if (o === "one\ntwo\n") g.open();
      },
    );
    expect(r).toMatchObject({ code: 0, output: "one\ntwo\nthree\n" });
  });

  test("abort kills the step, and the sandbox still runs the next one", async () => {
    const ac = new AbortController();
    // Aborted once it runs; a step that survived would hold the test for 600 s, past its timeout.
    const running = runStep(
      sandbox,
      { script: "sleep 600 & echo started; sleep 600; echo no" },
      ac.signal,
      (o) => o.includes("started") && ac.abort(),
    );
    const r = await running;
    expect(r.code).not.toBe(0);
    expect(r.output).toBe("started\n");
    const after = await runStep(sandbox, { script: "ps -eo args | grep -c '^sleep 600' || true" });
    expect(after).toMatchObject({ code: 0, output: "0\n" });
  });

  test("a step cannot reach a TCP listener on the host's 127.0.0.1", async () => {
    let connections = 0;
    const server: Server = createServer((s) => {
      connections++;
      s.end("hello\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await runStep(sandbox, {
        script: `if timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}'; then echo reached; else echo refused; fi`,
      });
      expect(r.output.trim().split("\n").at(-1)).toBe("refused");
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });

  test("a step past its memory limit is killed, and the log says so", async () => {
    const limited = await driver.create({
      name: unique(),
      limits: { memoryBytes: 64 * 1024 * 1024, pids: 256 },
    });
    try {
      // tail keeps a line in memory, and /dev/zero has no newlines.
      const r = await runStep(limited, {
        script: "head -c 512M /dev/zero | tail -n 1 >/dev/null; echo survived",
      });
      expect(r.code).not.toBe(0);
      expect(r.output).not.toContain("survived");
      expect(r.output).toContain(
        "out of memory: a process was killed for exceeding this job's memory limit of 64 MiB",
      );
    } finally {
      await limited.destroy();
    }
  });

  test("parallel slices: three sandboxes at once, none sees another's files", async () => {
    const slices = await Promise.all([0, 1, 2].map(() => driver.create({ name: unique() })));
    try {
      const wrote = await Promise.all(
        slices.map((s, i) =>
          runStep(s, {
            script: `echo slice-${i} > /root/mine; sleep 0.5; cat /root/mine; ls /root`,
            env: { I: String(i) },
          }),
        ),
      );
      expect(wrote.map((r) => r.output)).toEqual([0, 1, 2].map((i) => `slice-${i}\nmine\n`));
      // Nothing written in a slice reaches the template or the running build's container.
      const main = await runStep(sandbox, { script: "test ! -e /root/mine && echo clean" });
      expect(main.output).toBe("clean\n");
    } finally {
      await Promise.all(slices.map((s) => s.destroy()));
    }
    const left = await cairnContainers(own);
    for (const s of slices) expect(left).not.toContain(s.name);
  });

  test("destroy() leaves no container and is idempotent", async () => {
    const extra = await driver.create({ name: unique() });
    expect(await cairnContainers(own)).toContain(extra.name);
    await extra.destroy();
    expect(await cairnContainers(own)).not.toContain(extra.name);
    await extra.destroy();
  });

  test("reapOrphans() removes stray cairn-* containers, running or stopped, and keeps the rest", async () => {
    const running = `cairn-stray-${unique()}`;
    const stopped = `cairn-stray-${unique()}`;
    expect(
      spawnSync("lxc-copy", ["-P", LXC_PATH, "-n", TEMPLATE, "-N", running, "-e", "-B", "overlay"]).status,
    ).toBe(0);
    // A crash between lxc-copy and start can leave a stopped, non-ephemeral clone.
    expect(
      spawnSync("lxc-copy", ["-P", LXC_PATH, "-n", TEMPLATE, "-N", stopped, "-s", "-B", "overlay"]).status,
    ).toBe(0);
    // Keep everything else: other tests on this host may own containers right now.
    const keep = new Set((await cairnContainers(own)).filter((n) => n !== running && n !== stopped));
    const reaped = await driver.reapOrphans(keep);
    expect(reaped.sort()).toEqual([running, stopped].sort());
    const left = await cairnContainers(own);
    expect(left).not.toContain(running);
    expect(left).not.toContain(stopped);
    expect(left).toContain(sandbox.name);
  });
});

describe.skipIf(skip)("lxc driver over the local transport", () => {
  test("create, run, destroy without sshd (what `npm start` uses)", async () => {
    await ensureBaseTemplate();
    const driver = createLxcDriver({
      transport: createLocalTransport(),
      lxcPath: testLxcPath(),
      template: TEMPLATE,
    });
    await driver.check();
    const box = await driver.create({ name: unique() });
    try {
      const r = await runStep(box, { script: 'echo "$X in $(pwd)"', workdir: "~/w", env: { X: "local" } });
      expect(r).toMatchObject({ code: 0, output: "local in /root/w\n" });
    } finally {
      await box.destroy();
    }
    expect(await cairnContainers()).not.toContain(box.name);
  });
});

describe.skipIf(skip)("two builders' drivers on one lxcpath", () => {
  test("each reaps only its own sandboxes, and those of an owner the server says is gone", async () => {
    await ensureBaseTemplate(own);
    const transport = createLocalTransport();
    const gone = new Set<string>();
    const asked: string[][] = [];
    const driverOf = (owner: string) =>
      createLxcDriver({
        transport,
        template: TEMPLATE,
        lxcPath: LXC_PATH,
        owner,
        goneOwners: async (ids) => {
          asked.push(ids);
          return ids.filter((id) => gone.has(id));
        },
      });
    const bOwner = `b-${unique()}`;
    const a = driverOf(`a-${unique()}`);
    const b = driverOf(bOwner);
    const c = driverOf(`c-${unique()}`);
    const boxA = await a.create({ name: unique() });
    const boxB = await b.create({ name: unique() });
    try {
      // Everything else in this lxcpath belongs to other tests running now.
      const others = new Set((await cairnContainers(own)).filter((n) => n !== boxA.name && n !== boxB.name));
      // a starts again while b's job runs: it reaps its own leftover only.
      expect(await a.reapOrphans(others)).toEqual([boxA.name]);
      expect(await cairnContainers(own)).toContain(boxB.name);
      expect((await runStep(boxB, { script: "echo b runs" })).output).toBe("b runs\n");
      // c asks the server about b, which is live: nothing is reaped.
      expect(await c.reapOrphans(others)).toEqual([]);
      expect(asked.at(-1)).toEqual([bOwner]);
      expect((await Bun.file(`${LXC_PATH}/${boxB.name}/cairn-owner`).text()).trim()).toBe(bOwner);
      // Once the server says b is gone, c reaps b's sandbox.
      gone.add(bOwner);
      expect(await c.reapOrphans(others)).toEqual([boxB.name]);
      expect(await cairnContainers(own)).not.toContain(boxB.name);
    } finally {
      await boxA.destroy();
      await boxB.destroy();
    }
  });
});
