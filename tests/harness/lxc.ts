// Test harness: gating and bookkeeping for tests that need real LXC (and the harness sshd).
//
//   import { describe } from "bun:test";
//   const skip = await requireLxc({ sshd: true });   // top level of the test file
//   describe.skipIf(skip)("lxc things", () => {
//     beforeAll(() => ensureBaseTemplate());             // in testLxcPath(), or ({ lxcPath })
//     afterAll(() => destroyContainers());               // even when a test failed
//     ...expect(await cairnContainers()).not.toContain(name)
//   });
//
// Tests keep their containers in lxcpaths of their own, under /var/lib/cairn-test-runs/<pid>/
// (testLxcPath): a builder started by a test reaps every `cairn-*` in its lxcpath, and other runs
// on this machine (other checkouts, CI) have containers of their own. The first template made in a
// process sweeps the lxcpaths of runs whose process is gone (a killed run's leftovers), and only those.
//
// Without CAIRN_REQUIRE_LXC=1 a machine without LXC (or root, or sshd) skips those tests. With it
// (`.ci/run` sets it) a missing piece registers a failing test that says what is missing.

import { test } from "bun:test";
import { spawn } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { join } from "node:path";
import { sshdMissingReason } from "./sshd.ts";

export const TEMPLATE = process.env.CAIRN_TEMPLATE ?? "cairn-base";
// Jobs of a test server in this process run on that template too.
if (process.env.CAIRN_TEMPLATE) process.env.CAIRN_DEFAULT_TEMPLATE ??= TEMPLATE;
export const REQUIRE_LXC = process.env.CAIRN_REQUIRE_LXC === "1";
const TEMPLATE_SCRIPT = join(import.meta.dir, "..", "..", "scripts", "lxc-base-template.sh");

interface Ran {
  code: number;
  out: string;
}

function sh(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], env });
    let out = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.on("error", (err) => resolve({ code: 127, out: String(err) }));
    child.on("close", (code) => resolve({ code: code ?? 128, out }));
  });
}

let lxcReason: Promise<string | undefined> | undefined;

/** Why LXC cannot run here, or undefined when it can (root, lxc tools, a working lxc-ls). */
export function lxcMissingReason(): Promise<string | undefined> {
  lxcReason ??= (async () => {
    if (process.getuid?.() !== 0) return "not running as root (privileged LXC needs root)";
    for (const tool of ["lxc-copy", "lxc-attach", "lxc-ls", "lxc-stop", "lxc-wait"]) {
      if ((await sh(["sh", "-c", `command -v ${tool}`])).code !== 0)
        return `${tool} not found (apt-get install -y lxc)`;
    }
    const ls = await sh(["lxc-ls", "-1"]);
    if (ls.code !== 0) return `lxc-ls failed: ${ls.out.trim()}`;
    return undefined;
  })();
  return lxcReason;
}

export async function lxcAvailable(): Promise<boolean> {
  return (await lxcMissingReason()) === undefined;
}

/**
 * Call at a test file's top level. Returns true when the file's LXC tests should be skipped.
 * Under CAIRN_REQUIRE_LXC=1 a missing LXC (or sshd, with `sshd: true`) is a failing test instead.
 */
export async function requireLxc(needs: { sshd?: boolean } = {}): Promise<boolean> {
  let reason = await lxcMissingReason();
  if (!reason && needs.sshd) reason = sshdMissingReason();
  if (!reason) return false;
  if (REQUIRE_LXC) {
    test(`LXC is required here (CAIRN_REQUIRE_LXC=1): ${reason}`, () => {
      throw new Error(`CAIRN_REQUIRE_LXC=1 but LXC tests cannot run: ${reason}`);
    });
  }
  return true;
}

/** Where test runs keep their lxcpaths: `<root>/<pid of the test process>/<name>`. Tests only. */
export const TEST_LXC_ROOT = "/var/lib/cairn-test-runs";

/** This process's lxcpath `name` (made on first use, 0755 so unprivileged containers can traverse it). */
export function testLxcPath(name = "lxc"): string {
  const path = join(TEST_LXC_ROOT, String(process.pid), name);
  if (!existsSync(path)) {
    mkdirSync(path, { recursive: true });
    for (const dir of [TEST_LXC_ROOT, join(TEST_LXC_ROOT, String(process.pid)), path]) chmodSync(dir, 0o755);
  }
  return path;
}

/** A host network object a test made: removed by the test, and by the sweep if its run was killed. */
export type NetworkThing =
  | { kind: "netns"; name: string }
  | { kind: "link"; name: string }
  | { kind: "nft"; family: "inet" | "bridge"; name: string }
  | { kind: "file"; name: string };

/** This run's ledger of host network objects (`<TEST_LXC_ROOT>/<pid>/network.ledger`, one JSON a line). */
const ledgerPath = (run: string) => join(TEST_LXC_ROOT, run, "network.ledger");

/** Notes `things` in this run's ledger before they are made, so a killed run's are swept (sweepDeadRuns). */
export function recordNetwork(...things: NetworkThing[]): void {
  const dir = join(TEST_LXC_ROOT, String(process.pid));
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    for (const d of [TEST_LXC_ROOT, dir]) chmodSync(d, 0o755);
  }
  appendFileSync(ledgerPath(String(process.pid)), things.map((t) => `${JSON.stringify(t)}\n`).join(""));
}

/** Removes host network objects (a missing one is no error), in order; returns those that were there. */
export async function removeNetwork(things: NetworkThing[]): Promise<NetworkThing[]> {
  const removed: NetworkThing[] = [];
  for (const t of things) {
    // Only names this project's tests make: a damaged ledger cannot point the sweep at the host's own.
    if (!t.name.split("/").pop()?.startsWith("cairn")) continue;
    let gone = false;
    if (t.kind === "netns") gone = (await sh(["ip", "netns", "del", t.name])).code === 0;
    else if (t.kind === "link") gone = (await sh(["ip", "link", "del", t.name])).code === 0;
    else if (t.kind === "nft") gone = (await sh(["nft", "delete", "table", t.family, t.name])).code === 0;
    else if (t.name.startsWith("/run/") && existsSync(t.name)) {
      rmSync(t.name, { force: true });
      gone = true;
    }
    if (gone) removed.push(t);
  }
  return removed;
}

/** Removes what a dead run's ledger lists (after its containers: their veths sit on its bridges). */
async function sweepLedger(run: string): Promise<string[]> {
  const path = ledgerPath(run);
  if (!existsSync(path)) return [];
  const things = readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as NetworkThing);
  return (await removeNetwork(things)).map((t) => `${t.kind} ${t.name}`);
}

const templates = new Map<string, Promise<void>>();
let swept: Promise<string[]> | undefined;

/**
 * Runs scripts/lxc-base-template.sh once per process and lxcpath (a no-op when the template is
 * current); testLxcPath() unless told otherwise. The first call also sweeps dead runs' lxcpaths.
 */
export function ensureBaseTemplate(opts: { lxcPath?: string } = {}): Promise<void> {
  const lxcPath = opts.lxcPath ?? testLxcPath();
  let made = templates.get(lxcPath);
  if (!made) {
    swept ??= sweepDeadRuns();
    made = swept.then(() =>
      sh(["sh", TEMPLATE_SCRIPT], { ...process.env, LXC_PATH: lxcPath }).then((r) => {
        if (r.code !== 0) throw new Error(`scripts/lxc-base-template.sh failed (exit ${r.code}):\n${r.out}`);
      }),
    );
    templates.set(lxcPath, made);
  }
  return made;
}

/** Existing `cairn-*` containers other than the template (in testLxcPath() by default): leftovers. */
export async function cairnContainers(opts: { lxcPath?: string } = {}): Promise<string[]> {
  const r = await sh(["lxc-ls", "-P", opts.lxcPath ?? testLxcPath(), "-1"]);
  if (r.code !== 0) throw new Error(`lxc-ls failed: ${r.out.trim()}`);
  return r.out.split(/\s+/).filter((n) => n.startsWith("cairn-") && n !== TEMPLATE);
}

/** Stops and destroys `cairn-*` containers (all but the template by default) in a test lxcpath. */
export async function destroyContainers(opts: { lxcPath?: string; names?: string[] } = {}): Promise<void> {
  const lxcPath = opts.lxcPath ?? testLxcPath();
  const names = opts.names ?? (await cairnContainers({ lxcPath }));
  await Promise.all(
    names.map(async (n) => {
      await sh(["lxc-stop", "-P", lxcPath, "-k", "-n", n]);
      // A clone with a disk limit has its writable layer loop-mounted on overlay/.
      await sh(["umount", join(lxcPath, n, "overlay")]);
      await sh(["lxc-destroy", "-P", lxcPath, "-f", "-n", n]);
    }),
  );
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * Removes what killed test runs left: the containers and lxcpaths under TEST_LXC_ROOT whose test
 * process no longer exists, and the bridges, nft tables and namespaces their ledgers list. Live runs (this one, other checkouts, CI) are never touched.
 */
export async function sweepDeadRuns(): Promise<string[]> {
  if (!existsSync(TEST_LXC_ROOT)) return [];
  const removed: string[] = [];
  const network: string[] = [];
  for (const run of readdirSync(TEST_LXC_ROOT)) {
    if (!/^\d+$/.test(run) || alive(Number(run))) continue;
    const dir = join(TEST_LXC_ROOT, run);
    const list = async (lxcPath: string) =>
      (await sh(["lxc-ls", "-P", lxcPath, "-1"])).out.split(/\s+/).filter(Boolean);
    let clean = true;
    for (const name of readdirSync(dir)) {
      const lxcPath = join(dir, name);
      if (!statSync(lxcPath).isDirectory()) continue; // the network ledger
      const all = await list(lxcPath);
      await destroyContainers({ lxcPath, names: all });
      removed.push(...all.map((n) => `${lxcPath}/${n}`));
      if ((await list(lxcPath)).length) clean = false;
    }
    network.push(...(await sweepLedger(run)));
    // Files are removed only once LXC has let go of every container in them.
    if (clean) rmSync(dir, { recursive: true, force: true });
  }
  const containers = removed.filter((n) => !n.endsWith(`/${TEMPLATE}`));
  if (containers.length) console.error(`tests: removed what killed test runs left: ${containers.join(", ")}`);
  if (network.length) console.error(`tests: removed the network of killed test runs: ${network.join(", ")}`);
  return removed;
}
