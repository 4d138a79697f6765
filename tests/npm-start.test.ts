// `npm start` as a newcomer runs it (scripts/start.ts, a real process): the local builder gets its
// slots from the flag (or the cores and memory), and runs an SSH server on a loopback port for
// "Re-run with SSH". A second start with another flag re-applies it to the registered builder.
// The process driver keeps this test off LXC (a local LXC builder reaps every `cairn-*` container).
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { autoSlots } from "../builder/resources.ts";

setDefaultTimeout(120_000);

const root = join(import.meta.dir, "..");
const dataDir = mkdtempSync(join(tmpdir(), "cairn-npm-start-"));
// The process driver keeps its sandboxes under $TMPDIR: this builder's own, not a shared one.
const privateTmp = mkdtempSync(join(tmpdir(), "cairn-npm-start-tmp-"));
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const c of children) await stop(c);
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(privateTmp, { recursive: true, force: true });
});

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once("exit", r));
  c.kill("SIGTERM");
  await exited;
}

/** Runs start.ts with `args`; resolves once the builder polls and `until` matches its output. */
function start(args: string[], until: RegExp): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [join(root, "scripts/start.ts"), ...args], {
    cwd: root,
    env: {
      ...process.env,
      CAIRN_DATA_DIR: dataDir,
      CAIRN_PORT: "0",
      CAIRN_HOST: "127.0.0.1",
      TMPDIR: privateTmp,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return new Promise((resolve, reject) => {
    const check = () => {
      if (until.test(out) && /polling/.test(out)) resolve({ child, out: () => out });
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    child.once("exit", (code) => reject(new Error(`start.ts exited (${code}):\n${out}`)));
  });
}

/** The first bytes an SSH server sends: its version banner. */
function banner(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    s.once("data", (d) => {
      resolve(String(d));
      s.destroy();
    });
    s.once("error", reject);
  });
}

test("npm start: the local builder takes --slots and serves SSH into builds on a loopback port", async () => {
  const first = await start(["--slots", "3", "--driver", "process"], /SSH into builds on 127\.0\.0\.1:\d+/);
  expect(first.out()).toContain("3 slot(s)");
  const port = Number(/SSH into builds on 127\.0\.0\.1:(\d+)/.exec(first.out())![1]);
  expect(await banner(port)).toStartWith("SSH-2.0-");
  const id = JSON.parse(readFileSync(join(dataDir, "builder.json"), "utf8"));
  expect(id.slots).toBe(3);
  expect(id.ssh_listen).toBe("127.0.0.1:0");
  await stop(first.child);

  // Started again without --slots: auto, from this machine's cores and memory.
  const second = await start(["--driver", "process"], /SSH into builds on 127\.0\.0\.1:\d+/);
  expect(second.out()).toContain(`${autoSlots()} slot(s)`);
  await stop(second.child);
});

test("npm start refuses a bad --slots with its usage, before starting anything", async () => {
  const child = spawn(process.execPath, [join(root, "scripts/start.ts"), "--slots", "0"], {
    cwd: root,
    env: { ...process.env, CAIRN_DATA_DIR: dataDir, TMPDIR: privateTmp },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const code = await new Promise((r) => child.once("exit", r));
  expect(code).toBe(2);
  expect(err).toContain("--slots N|auto");
});
