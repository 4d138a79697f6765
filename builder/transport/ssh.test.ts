// The ssh transport against a real OpenSSH sshd on 127.0.0.1 (tests/harness/sshd.ts).

import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireSshd, sshdLogin, startSshd, type TestSshd } from "../../tests/harness/sshd.ts";
import type { HostTransport } from "../driver/types.ts";
import { HostKeyMismatchError } from "./host-key.ts";
import { createSshTransport } from "./ssh.ts";

// bunfig.toml's [test] timeout is not read by this Bun; cross-process tests need more than 5 s.
setDefaultTimeout(120_000);

const skip = requireSshd();

/** Direct children of a process (sshd's per-connection processes). */
function children(pid: number): number[] {
  const out = spawnSync("pgrep", ["-P", String(pid)]).stdout.toString();
  return out.split(/\s+/).filter(Boolean).map(Number);
}

/** Waits for `done()`, checking every 50 ms; past a generous 60 s, fails saying what it saw. */
async function until(done: () => boolean, what: string, saw: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`waited 60 s for ${what}; saw: ${saw()}`);
    await Bun.sleep(50);
  }
}

/** A unique sleep duration, so `pgrep -f` finds this test's processes and nobody else's. */
const markedSleep = () => `31.${process.pid}${Math.floor(Math.random() * 1e6)}`;

// Every test gets its own sshd and connection: none depends on what an earlier one left behind
// (busy channels, a dropped link, a connection closed late), and each passes alone with -t.
describe.skipIf(skip)("ssh transport", () => {
  let sshd: TestSshd;
  let transport: HostTransport;
  let dir: string;
  const connect = (hostKey: string) => createSshTransport({ ...sshdLogin(sshd), hostKey });
  /** A file a remote command waits for (sshd runs on this machine): the test opens it when ready. */
  const gate = () => {
    const path = join(dir, `gate-${Math.random().toString(36).slice(2)}`);
    return { wait: `while [ ! -e ${path} ]; do sleep 0.05; done`, open: () => writeFileSync(path, "") };
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "cairn-ssh-test-"));
    sshd = await startSshd();
    transport = await connect(sshd.hostPublicKey);
  });
  afterEach(async () => {
    await transport?.close();
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("runs argv exactly as given, without shell interpretation", async () => {
    const args = ["a b", "it's", '"q"', "$HOME", "`id`", "*", "; echo pwned", "", "new\nline"];
    const r = await transport.exec(["printf", "[%s]", ...args]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(args.map((a) => `[${a}]`).join(""));
  });

  test("reports exit codes, stderr, and 127 for a missing command", async () => {
    const r = await transport.exec(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
    expect((await transport.exec(["cairn-no-such-command"])).code).toBe(127);
  });

  test("streams output before the command ends", async () => {
    // The command cannot end before the test has seen its first line: buffered output would hang.
    const g = gate();
    const r = await transport.exec(["sh", "-c", `echo first; ${g.wait}; echo second`], {
      onStdout: (b) => {
        if (b.toString().includes("first")) g.open();
      },
    });
    expect(r).toMatchObject({ code: 0, stdout: "first\nsecond\n" });
  });

  test("feeds stdin, binary-safe, with and without env", async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const sha = createHash("sha256").update(data).digest("hex");
    const plain = await transport.exec(["sha256sum"], { stdin: data });
    expect(plain.stdout.split(" ")[0]).toBe(sha);
    const withEnv = await transport.exec(["sh", "-c", 'printf "%s:" "$V"; sha256sum'], {
      stdin: data,
      env: { V: "x" },
    });
    expect(withEnv.stdout).toStartWith(`x:${sha}`);
    // No stdin means EOF, not a hang.
    expect((await transport.exec(["cat"])).stdout).toBe("");
  });

  test("env reaches the command, keeps odd values intact, and never shows in ps", async () => {
    const secret = `cairn-secret-${randomBytes(8).toString("hex")}`;
    const odd = 'it\'s "quoted"\n$(not run) `x` \\ end';
    const g = gate();
    let ready!: () => void;
    const started = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const running = transport.exec(["sh", "-c", `echo ready; ${g.wait}; printf "%s|%s" "$SECRET" "$ODD"`], {
      env: { SECRET: secret, ODD: odd },
      onStdout: (b) => {
        if (b.toString().includes("ready")) ready();
      },
    });
    await started;
    // sshd runs on this machine: every process's argv is visible here.
    const ps = spawnSync("ps", ["axww", "-o", "args"]).stdout.toString();
    g.open();
    expect(ps).toContain(g.wait);
    expect(ps).not.toContain(secret);
    const r = await running;
    expect(r.stdout).toBe(`ready\n${secret}|${odd}`);
  });

  test("refuses invalid env names before connecting anywhere", async () => {
    await expect(transport.exec(["true"], { env: { "BAD NAME": "x" } })).rejects.toThrow(
      /invalid environment/,
    );
  });

  test("runs many commands at once", async () => {
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) => transport.exec(["sh", "-c", `sleep 0.2; echo ${i}`])),
    );
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 24 }, (_, i) => String(i)));
  });

  test("past maxChannels busy channels it opens another connection instead of queueing", async () => {
    const before = new Set(children(sshd.pid));
    const narrow = await createSshTransport({
      ...sshdLogin(sshd),
      maxChannels: 2,
    });
    const g = gate();
    try {
      // Four commands that hold their channels until the test opens the gate: two connections' worth.
      let running = 0;
      const long = [0, 1, 2, 3].map(() =>
        narrow.exec(["sh", "-c", `echo up; ${g.wait}`], {
          onStdout: () => {
            running++;
          },
        }),
      );
      for (const p of long) p.catch(() => {}); // awaited below; a failure must not go unheard meanwhile
      await until(
        () => running === 4,
        "four long commands to start",
        () => `${running} started`,
      );
      // Had it queued behind the busy channels, this would wait for the gate, which opens only after.
      const quick = await narrow.exec(["echo", "still served"]);
      expect(quick.stdout).toBe("still served\n");
      // sshd serves each connection from its own child: more than one connection was opened.
      expect(children(sshd.pid).filter((p) => !before.has(p)).length).toBeGreaterThanOrEqual(2);
      g.open();
      expect((await Promise.all(long)).map((r) => r.code)).toEqual([0, 0, 0, 0]);
    } finally {
      g.open();
      await narrow.close();
    }
  });

  test("abort kills the remote process group", async () => {
    const marker = markedSleep();
    const ac = new AbortController();
    // Aborted once both sleeps run; had the kill failed, the command would end 0 after 31 s.
    const running = transport.exec(
      ["sh", "-c", `sleep ${marker} & echo started; sleep ${marker}; echo done`],
      {
        signal: ac.signal,
        onStdout: (b) => {
          if (b.toString().includes("started")) ac.abort();
        },
      },
    );
    const r = await running;
    expect(r.code).toBe(137);
    expect(r.stdout).toBe("started\n");
    const left = () => spawnSync("pgrep", ["-f", `sleep ${marker}`]).stdout.toString();
    // The group is killed before the command reports 137; the kernel may take a moment to reap.
    await until(
      () => left() === "",
      "the remote process group to be gone",
      () => `pids ${left()}`,
    );
  });

  test("accepts the pinned key as a SHA256 fingerprint or a known_hosts line", async () => {
    const fp = spawnSync("ssh-keygen", ["-lf", sshd.knownHostsPath]).stdout.toString().split(/\s+/)[1];
    expect(fp).toStartWith("SHA256:");
    for (const pin of [fp, readFileSync(sshd.knownHostsPath, "utf8")]) {
      const t = await connect(pin);
      expect((await t.exec(["echo", "ok"])).stdout).toBe("ok\n");
      await t.close();
    }
  });

  test("refuses a host whose key does not match the pin", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-otherkey-"));
    try {
      spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "k")]);
      const other = readFileSync(join(dir, "k.pub"), "utf8");
      const err = await connect(other).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HostKeyMismatchError);
      expect(String(err)).toContain("does not match the pinned key");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a dropped connection fails its running command clearly; the next exec reconnects", async () => {
    const before = new Set(children(sshd.pid));
    const t = await connect(sshd.hostPublicKey);
    try {
      let started = false;
      const running = t.exec(["sh", "-c", "echo up; exec sleep 30"], {
        onStdout: () => {
          started = true;
        },
      });
      await until(
        () => started,
        "the command to start",
        () => "no output",
      );
      // Each connection is served by its own sshd child: killing it drops just this connection.
      const mine = children(sshd.pid).filter((p) => !before.has(p));
      expect(mine.length).toBeGreaterThan(0);
      for (const pid of mine) process.kill(pid, "SIGKILL");
      await expect(running).rejects.toThrow(/closed|failed/);
      expect((await t.exec(["echo", "back"])).stdout).toBe("back\n");
    } finally {
      await t.close();
    }
  });

  test("an sshd with a lower MaxSessions than maxChannels still serves everything", async () => {
    const tight = await startSshd({ maxSessions: 2 });
    const t = await createSshTransport({
      ...sshdLogin(tight),
      maxChannels: 8,
    });
    try {
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => t.exec(["sh", "-c", `sleep 0.5; echo ${i}`])),
      );
      expect(results.map((r) => r.stdout)).toEqual(["0\n", "1\n", "2\n", "3\n", "4\n", "5\n"]);
    } finally {
      await t.close();
      await tight.stop();
    }
  });

  test("a closed transport refuses new commands clearly", async () => {
    const t = await connect(sshd.hostPublicKey);
    await t.close();
    await expect(t.exec(["true"])).rejects.toThrow(/closed/);
  });
});
