// What each test run made on the host, and the sweep that removes what a killed run left.
//
// A run is a test process; its things are found by what marks them, never by a name alone:
// - processes it starts (builders, sshd, servers) carry CAIRN_TEST_RUN=<run dir> in their
//   environment (set here, inherited by every child), and so are found with their descendants;
// - containers live in lxcpaths under its run dir /var/lib/cairn-test-runs/<pid>/ (testLxcPath),
//   and a container's ext4 disk layer is loop-mounted inside that lxcpath;
// - network namespaces, links, nft tables, mounts and containers elsewhere are written down in
//   <run dir>/made (`recordMade`) before they are made.
// sweepDeadRuns() removes all of that for each run whose process is gone, and touches no live run's.

import { spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Where test runs keep their lxcpaths and ledgers: `<root>/<pid of the test process>/`. Tests only. */
export const TEST_LXC_ROOT = "/var/lib/cairn-test-runs";
/** The environment variable that marks a process as started by a test run: its run dir. */
export const RUN_MARK = "CAIRN_TEST_RUN";
/** The ledger of things made outside the run dir, one `kind<TAB>name[<TAB>lxcpath]` a line. */
const LEDGER = "made";

/** This process's run dir; made (0755, so unprivileged containers can traverse it) on first use. */
export function runDir(root = TEST_LXC_ROOT): string {
  const dir = join(root, String(process.pid));
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    for (const d of [root, dir]) chmodSync(d, 0o755);
  }
  return dir;
}

// Every process this one starts from here on is marked as this run's (a nested run marks its own).
process.env[RUN_MARK] = join(TEST_LXC_ROOT, String(process.pid));

export type Made =
  | { kind: "netns"; name: string }
  | { kind: "link"; name: string }
  | { kind: "nft"; name: string; family: "inet" | "bridge" }
  | { kind: "mount"; name: string }
  | { kind: "container"; name: string; lxcPath: string }
  /** A file under /run (a lock, a saved sysctl value) named `cairn-…`. */
  | { kind: "file"; name: string };

/**
 * Writes down, before making it, something of this run's that lives outside its run dir, so a
 * sweep after a kill can remove it. Names should still begin with `cairn-` (or `c`+tag for links).
 */
export function recordMade(made: Made, dir = runDir()): void {
  const extra = made.kind === "nft" ? made.family : made.kind === "container" ? made.lxcPath : "";
  appendFileSync(join(dir, LEDGER), `${[made.kind, made.name, extra].join("\t")}\n`);
}

function readLedger(dir: string): Made[] {
  const file = join(dir, LEDGER);
  if (!existsSync(file)) return [];
  const out: Made[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [kind, name, extra] = line.split("\t");
    if (!name) continue;
    if (kind === "nft") out.push({ kind, name, family: extra === "bridge" ? "bridge" : "inet" });
    else if (kind === "container") out.push({ kind, name, lxcPath: extra });
    else if (kind === "netns" || kind === "link" || kind === "mount" || kind === "file")
      out.push({ kind, name });
  }
  return out;
}

const run = (argv: string[]) => spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Stops and destroys containers of an lxcpath, unmounting their loop-mounted disk layer. */
export function destroyIn(lxcPath: string, names: string[]): void {
  for (const n of names) {
    run(["lxc-stop", "-P", lxcPath, "-k", "-n", n]);
    // A clone with a disk limit has its writable layer loop-mounted on overlay/.
    if (run(["mountpoint", "-q", join(lxcPath, n, "overlay")]).status === 0)
      run(["umount", join(lxcPath, n, "overlay")]);
    run(["lxc-destroy", "-P", lxcPath, "-f", "-n", n]);
  }
}

const containersIn = (lxcPath: string) =>
  (run(["lxc-ls", "-P", lxcPath, "-1"]).stdout ?? "").split(/\s+/).filter(Boolean);

/** pid → parent pid, and pid → its CAIRN_TEST_RUN mark, for every process we may read. */
function processTable(): { parent: Map<number, number>; mark: Map<number, string> } {
  const parent = new Map<number, number>();
  const mark = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // `pid (comm) state ppid ...`: comm may hold spaces and parentheses; ppid follows the last `)`.
      parent.set(pid, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
      const env = readFileSync(`/proc/${pid}/environ`, "utf8");
      const m = env.split("\0").find((v) => v.startsWith(`${RUN_MARK}=`));
      if (m) mark.set(pid, m.slice(RUN_MARK.length + 1));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return { parent, mark };
}

/** `pids` and every descendant of theirs, never this process or its ancestors. */
function withDescendants(pids: Iterable<number>, parent: Map<number, number>): Set<number> {
  const mine = new Set<number>();
  for (let p: number | undefined = process.pid; p && !mine.has(p); p = parent.get(p)) mine.add(p);
  const doomed = new Set([...pids].filter((pid) => !mine.has(pid)));
  // Descendants too: an sshd's sessions (lxc-attach) do not inherit its environment.
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parent)
      if (!doomed.has(pid) && doomed.has(ppid) && !mine.has(pid)) {
        doomed.add(pid);
        grew = true;
      }
  }
  return doomed;
}

function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Kills a process a test started and everything it started in turn (a benchmark and its servers). */
export function killTree(pid: number): void {
  killAll(withDescendants([pid], processTable().parent));
}

/**
 * Kills the processes marked with the run dir of a run under `root` whose process is gone (whether
 * or not that dir was ever made), and their descendants.
 */
function killOrphans(root: string): number[] {
  const { parent, mark } = processTable();
  const orphans = [...mark]
    .filter(
      ([, dir]) => dirname(dir) === root && /^\d+$/.test(basename(dir)) && !alive(Number(basename(dir))),
    )
    .map(([pid]) => pid);
  const doomed = withDescendants(orphans, parent);
  killAll(doomed);
  return [...doomed];
}

/** Mount points at or under `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4]?.replace(/\\040/g, " "))
    .filter((p): p is string => Boolean(p) && (p === dir || p.startsWith(`${dir}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

function unmount(point: string): void {
  if (run(["umount", point]).status !== 0) run(["umount", "-l", point]);
}

/**
 * Removes one ledger entry's thing (it may be gone already). Network objects and files only by the
 * names this project's tests give them (`cairn…`, or `c`+tag for links), so a damaged ledger cannot
 * point it at the host's own.
 */
export function removeMade(m: Made): void {
  const named = m.kind === "netns" || m.kind === "link" || m.kind === "nft" || m.kind === "file";
  if (named && !(m.name.split("/").pop() ?? "").startsWith("c")) return;
  if (m.kind === "file") {
    if (m.name.startsWith("/run/") && m.name.split("/").pop()?.startsWith("cairn"))
      rmSync(m.name, { force: true });
  } else if (m.kind === "netns") run(["ip", "netns", "del", m.name]);
  else if (m.kind === "link") run(["ip", "link", "del", m.name]);
  else if (m.kind === "nft") run(["nft", "delete", "table", m.family, m.name]);
  else if (m.kind === "mount") for (const p of mountsUnder(m.name)) unmount(p);
  else if (m.kind === "container" && containersIn(m.lxcPath).includes(m.name)) destroyIn(m.lxcPath, [m.name]);
}

/**
 * Removes what killed test runs left: for each run dir under `root` whose process is gone, its
 * marked processes, the things its ledger lists, the containers and mounts in its lxcpaths, then
 * the dir. Live runs (this one, other checkouts, CI) are never touched. Says what it removed.
 */
export function sweepDeadRuns(root = TEST_LXC_ROOT): string[] {
  const removed: string[] = killOrphans(root).map((pid) => `process ${pid}`);
  if (!existsSync(root)) return removed;
  const dead = readdirSync(root)
    .filter((run) => /^\d+$/.test(run) && !alive(Number(run)))
    .map((run) => join(root, run));
  for (const dir of dead) {
    for (const m of readLedger(dir).reverse()) {
      removeMade(m);
      removed.push(`${m.kind} ${m.name}`);
    }
    let clean = true;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const lxcPath = join(dir, entry.name);
      const all = containersIn(lxcPath);
      destroyIn(lxcPath, all);
      removed.push(...all.map((n) => `container ${lxcPath}/${n}`));
      if (containersIn(lxcPath).length) clean = false;
    }
    // A disk layer LXC did not unmount (its container's config gone) would take its files with it.
    for (const p of mountsUnder(dir)) {
      unmount(p);
      removed.push(`mount ${p}`);
    }
    // Files are removed only once LXC has let go of every container and nothing is mounted there.
    if (clean && !mountsUnder(dir).length) rmSync(dir, { recursive: true, force: true });
  }
  return removed;
}

let swept: Promise<string[]> | undefined;

/**
 * Once per process, before it makes anything: claims this run's dir (when it may, as root) and
 * sweeps dead runs. ensureBaseTemplate, startSshd and startBuilder call it.
 */
export function sweepOnce(): Promise<string[]> {
  swept ??= (async () => {
    if (process.getuid?.() !== 0) return [];
    runDir();
    const removed = sweepDeadRuns();
    if (removed.length) console.error(`tests: removed what killed test runs left: ${removed.join(", ")}`);
    return removed;
  })();
  return swept;
}
