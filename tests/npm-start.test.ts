// `npm start` as a newcomer runs it (scripts/start.ts, a real process): the local builder gets its
// slots from the flag (or the cores and memory), and runs an SSH server on a loopback port for
// "Re-run with SSH". A second start with another flag re-applies it to the registered builder.
// The process driver keeps this test off LXC (a local LXC builder reaps every `cairn-*` container).
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { autoSlots } from "../builder/resources.ts";
import { createRepo } from "./support/git.ts";
import { waitForPlan } from "./support/trigger.ts";

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

/** `ssh` (OpenSSH) as a user runs it; never prompts. */
function ssh(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("ssh", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The slots the server shows for the local builder (GET /api/v1/builders), from start.ts's output. */
async function builderSlots(out: string): Promise<number> {
  const url = /ready at (http:\/\/[\d.:]+)/.exec(out)![1];
  const token = readFileSync(join(dataDir, "initial-admin-token"), "utf8").trim();
  const res = await fetch(`${url}/api/v1/builders`, { headers: { authorization: `Bearer ${token}` } });
  const { items } = (await res.json()) as { items: { name: string; slots: number }[] };
  return items.find((b) => b.name === "local")!.slots;
}

/** Runs start.ts with `args`; resolves once the builder polls and `until` matches its output. */
function start(
  args: string[],
  until: RegExp,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [join(root, "scripts/start.ts"), ...args], {
    cwd: root,
    env: {
      ...process.env,
      CAIRN_DATA_DIR: dataDir,
      CAIRN_PORT: "0",
      CAIRN_HOST: "127.0.0.1",
      TMPDIR: privateTmp,
      ...env,
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
  expect(await builderSlots(first.out())).toBe(3);
  await stop(first.child);

  // Started again without --slots: auto, from this machine's cores and memory; and with classes of
  // the operator's own (CAIRN_RESOURCE_CLASSES), which the builder reads at its start.
  const classes = join(dataDir, "classes.json");
  writeFileSync(classes, '{"acme/big-disk": {"cpus": 2, "memory": "4GiB", "disk": "100GiB"}}');
  const second = await start(["--driver", "process"], /SSH into builds on 127\.0\.0\.1:\d+/, {
    CAIRN_RESOURCE_CLASSES: classes,
  });
  expect(second.out()).toContain(`${autoSlots()} slot(s)`);
  expect(second.out()).toContain(
    "resource class acme/big-disk: 2 CPUs, 4 GiB memory, 4096 processes, 100 GiB disk",
  );
  expect(await builderSlots(second.out())).toBe(autoSlots()); // the server's record follows
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
  const unknown = spawn(process.execPath, [join(root, "scripts/start.ts"), "--slot", "3"], {
    cwd: root,
    env: { ...process.env, CAIRN_DATA_DIR: dataDir, TMPDIR: privateTmp },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err2 = "";
  unknown.stderr.on("data", (d) => (err2 += d));
  expect(await new Promise((r) => unknown.once("exit", r))).toBe(2);
  expect(err2).toContain("Unknown option '--slot'");
  expect(err2).toContain("usage: npm start");
});

test("npm start: Re-run with SSH gives a shell in the job's directory, with the command the API shows", async () => {
  const { child, out } = await start(["--driver", "process"], /SSH into builds on 127\.0\.0\.1:\d+/);
  try {
    const url = /ready at (http:\/\/[\d.:]+)/.exec(out())![1];
    const token = readFileSync(join(dataDir, "initial-admin-token"), "utf8").trim();
    const api = async <T>(path: string, body?: unknown): Promise<T> => {
      const method = body === undefined ? "GET" : "POST";
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          ...waitForPlan(path, method),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };
    const key = join(privateTmp, "id_ed25519");
    spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "newcomer", "-f", key]);
    await api("/api/v1/users/me/ssh-keys", { public_key: readFileSync(`${key}.pub`, "utf8").trim() });

    const repo = createRepo();
    repo.commit({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  debug:\n    machine: true\n    steps:\n      - checkout\n      - run: echo from-the-build > marker\nworkflows:\n  w:\n    jobs: [debug]\n",
    });
    const project = await api<{ id: string }>("/api/v1/projects", { name: "ssh-demo", repo_url: repo.bare });
    const pipeline = await api<{ jobs: { id: string }[] }>(`/api/v1/projects/${project.id}/pipelines`, {
      branch: "main",
    });
    const pipelineId = (pipeline as unknown as { id: string }).id;
    type Job = { status: string; ssh: { command: string | null } | null };
    const wait = async (what: string, probe: () => Promise<boolean>) => {
      for (let i = 0; i < 300; i++) {
        if (await probe()) return;
        await Bun.sleep(200);
      }
      throw new Error(
        `timed out waiting for ${what}: ${JSON.stringify(await api(`/api/v1/pipelines/${pipelineId}`))}\n${out()}`,
      );
    };
    const first = pipeline.jobs[0].id;
    await wait("the first run", async () => (await api<Job>(`/api/v1/jobs/${first}`)).status === "success");
    const { job_id: again } = await api<{ job_id: string }>(`/api/v1/jobs/${first}/rerun`, { ssh: true });
    let command = "";
    await wait("the SSH command", async () => {
      const log = await (
        await fetch(`${url}/api/v1/jobs/${again}/log?format=text`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).text();
      command = (await api<Job>(`/api/v1/jobs/${again}`)).ssh?.command ?? "";
      return log.includes("SSH is enabled") && command !== "";
    });
    const m = /^ssh -p (\d+) (\S+)@127\.0\.0\.1$/.exec(command);
    expect(m?.[2]).toBe(again);
    const inside = await ssh([
      "-p",
      m![1],
      "-i",
      key,
      "-o",
      "BatchMode=yes",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "StrictHostKeyChecking=accept-new",
      "-o",
      `UserKnownHostsFile=${join(privateTmp, "known_hosts")}`,
      `${again}@127.0.0.1`,
      'cat marker; echo "home=$HOME"',
    ]);
    expect(inside.stderr).not.toContain("Permission denied");
    expect(inside.code).toBe(0);
    const [marker, home] = inside.stdout.split("\n");
    expect(marker).toBe("from-the-build");
    expect(home).toStartWith(`home=${privateTmp}`); // the sandbox's home, not the builder's
    await wait(
      "the job to end after the session",
      async () => (await api<Job>(`/api/v1/jobs/${again}`)).status === "success",
    );
  } finally {
    await stop(child);
  }
});
