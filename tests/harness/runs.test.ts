// The sweep of killed test runs (tests/harness/runs.ts), for real: two runs, one whose process is
// gone and one alive, each with one of every kind of thing a run makes (marked processes with an
// unmarked descendant, a network namespace, a bridge, an nft table, a loop-mounted ext4 disk layer
// inside a container of its lxcpath, a mount and a container elsewhere). The sweep removes the
// dead run's, all of them, and leaves the live run's, until that run's process is gone too.
// Everything lives under a root of this test's own, so no other run's things are in play.
import { afterAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alive, RUN_MARK, recordMade, sweepDeadRuns } from "./runs.ts";

const root =
  process.getuid?.() === 0 && existsSync("/usr/bin/lxc-ls") && spawnSync("nft", ["-v"]).status === 0;

function sh(...argv: string[]): void {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
}
const ok = (...argv: string[]) => spawnSync(argv[0], argv.slice(1)).status === 0;
const mounted = (path: string) => ok("mountpoint", "-q", path);
/** Gone, or a zombie its parent has yet to reap. */
const gone = (pid: number) => {
  try {
    return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
};

describe.skipIf(!root)("the sweep of killed test runs", () => {
  const base = root ? mkdtempSync("/var/tmp/cairn-sweep-") : "";
  const tag = Math.random().toString(36).slice(2, 7);
  const children: ChildProcess[] = [];

  /** A run dir holding one of everything, its things named after `who`; its pids. */
  function makeRun(pid: number, who: string) {
    const dir = join(base, String(pid));
    const lxcPath = join(dir, "lxc");
    const elsewhere = join(base, "elsewhere");
    const names = {
      netns: `cairn-sw-${tag}-${who}`,
      bridge: `csw${tag}${who}`,
      nft: `cairn_sw${tag}${who}`,
      container: `cairn-sw-${tag}-${who}`,
      outside: `cairn-swo-${tag}-${who}`,
      mount: join(base, `tmpfs-${who}`),
    };
    mkdirSync(lxcPath, { recursive: true });
    recordMade({ kind: "netns", name: names.netns }, dir);
    sh("ip", "netns", "add", names.netns);
    recordMade({ kind: "link", name: names.bridge }, dir);
    sh("ip", "link", "add", names.bridge, "type", "bridge");
    recordMade({ kind: "nft", name: names.nft, family: "inet" }, dir);
    sh("nft", "add", "table", "inet", names.nft);
    recordMade({ kind: "mount", name: names.mount }, dir);
    mkdirSync(names.mount, { recursive: true });
    sh("mount", "-t", "tmpfs", "cairn-sweep-test", names.mount);
    // A container of the run's lxcpath with its ext4 disk layer loop-mounted, as a disk limit makes.
    const box = join(lxcPath, names.container);
    mkdirSync(join(box, "overlay"), { recursive: true });
    writeFileSync(join(box, "config"), `lxc.uts.name = ${names.container}\n`);
    sh("truncate", "-s", "4M", join(box, "disk.img"));
    sh("mkfs.ext4", "-q", join(box, "disk.img"));
    sh("mount", "-o", "loop", join(box, "disk.img"), join(box, "overlay"));
    // A container in another lxcpath, written down.
    recordMade({ kind: "container", name: names.outside, lxcPath: elsewhere }, dir);
    mkdirSync(join(elsewhere, names.outside), { recursive: true });
    writeFileSync(join(elsewhere, names.outside, "config"), `lxc.uts.name = ${names.outside}\n`);
    // A marked process (a builder, an sshd) with an unmarked descendant (an sshd's session).
    const marked = spawn("sh", ["-c", `env -u ${RUN_MARK} sleep 600 & echo $!; wait`], {
      env: { ...process.env, [RUN_MARK]: dir },
      stdio: ["ignore", "pipe", "ignore"],
    });
    children.push(marked);
    const descendant = new Promise<number>((resolve) =>
      marked.stdout?.once("data", (b: Buffer) => resolve(Number(b.toString().trim()))),
    );
    return { dir, box, lxcPath, elsewhere, names, marked, descendant };
  }

  async function present(run: ReturnType<typeof makeRun>) {
    const n = run.names;
    const containers = (lxcPath: string) =>
      spawnSync("lxc-ls", ["-P", lxcPath, "-1"], { encoding: "utf8" }).stdout;
    return {
      process: !gone(run.marked.pid ?? 0),
      descendant: !gone(await run.descendant),
      netns: ok("ip", "netns", "pids", n.netns),
      bridge: existsSync(`/sys/class/net/${n.bridge}`),
      nft: ok("nft", "list", "table", "inet", n.nft),
      mount: mounted(n.mount),
      diskLayer: mounted(join(run.box, "overlay")),
      container: containers(run.lxcPath).includes(n.container),
      outside: containers(run.elsewhere).includes(n.outside),
      runDir: existsSync(run.dir),
    };
  }
  const all = (value: boolean) => ({
    process: value,
    descendant: value,
    netns: value,
    bridge: value,
    nft: value,
    mount: value,
    diskLayer: value,
    container: value,
    outside: value,
    runDir: value,
  });

  let runs: ReturnType<typeof makeRun>[] = [];
  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    for (const r of runs) {
      spawnSync("kill", ["-KILL", String(await r.descendant)]);
      spawnSync("umount", [join(r.box, "overlay")]);
      spawnSync("umount", [r.names.mount]);
      spawnSync("ip", ["netns", "del", r.names.netns]);
      spawnSync("ip", ["link", "del", r.names.bridge]);
      spawnSync("nft", ["delete", "table", "inet", r.names.nft]);
    }
    rmSync(base, { recursive: true, force: true });
  });

  test("removes each kind of thing a dead run made, and nothing of a live run's until it dies", async () => {
    // A pid that was a process a moment ago: the dead run. A sleeping process: the live run.
    const deadPid = spawnSync("true").pid;
    const liveRun = spawn("sleep", ["600"], { stdio: "ignore" });
    children.push(liveRun);
    expect(alive(deadPid)).toBe(false);
    const dead = makeRun(deadPid, "d");
    const live = makeRun(liveRun.pid ?? 0, "l");
    runs = [dead, live];
    expect(await present(dead)).toEqual(all(true));
    expect(await present(live)).toEqual(all(true));

    const markedExit = new Promise((r) => dead.marked.once("exit", r));
    const removed = sweepDeadRuns(base);
    await markedExit;
    expect(await present(dead)).toEqual(all(false));
    expect(await present(live)).toEqual(all(true));
    expect(removed).toContain(`netns ${dead.names.netns}`);
    expect(removed.join("\n")).not.toContain(`-${tag}-l`);

    // Once the live run's process is gone, its things go too.
    const liveExit = new Promise((r) => liveRun.once("exit", r));
    liveRun.kill("SIGKILL");
    await liveExit;
    const liveMarkedExit = new Promise((r) => live.marked.once("exit", r));
    sweepDeadRuns(base);
    await liveMarkedExit;
    expect(await present(live)).toEqual(all(false));
  });
});
