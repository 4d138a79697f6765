// One builder daemon driving two LXC hosts: two real sshd on 127.0.0.1, each host with its own
// private lxcpath (so they behave as two machines). Jobs spread over both, each host reaps its own
// orphans, nothing is left behind; with one host's sshd killed mid-job that job fails as an
// infrastructure failure, the builder withdraws the host's slots and jobs complete on the other;
// when it comes back, the builder reaps the container it could not destroy and runs jobs there again.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { cleanUp } from "./harness/clean-up.ts";
import {
  cairnContainers,
  destroyContainers,
  ensureBaseTemplate,
  requireLxc,
  TEMPLATE,
  testLxcPath,
} from "./harness/lxc.ts";
import { SSHD_PATH, startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { revokedBuilderId } from "./support/builder-sim.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const skip = await requireLxc({ sshd: true });
// Two fleet hosts: this machine twice, through two sshds, each with its own lxcpath.
const PATHS = skip ? [] : [testLxcPath("host-a"), testLxcPath("host-b")];

type Job = {
  id: string;
  name: string;
  status: string;
  failure_reason: string | null;
  superseded_by: string | null;
};

/** A workflow of `n` independent jobs that each hold their container for `seconds`. */
function jobs(prefix: string, n: number, seconds: number): string {
  const names = Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
  const job = (name: string) =>
    `  ${name}:\n    machine: true\n    steps:\n      - run: echo "start ${name}"; sleep ${seconds}; echo "done ${name}"\n`;
  return `version: 2.1\njobs:\n${names.map(job).join("")}workflows:\n  w:\n    jobs: [${names.join(", ")}]\n`;
}

const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Every process under `pid` (children first), from /proc. */
/** SIGKILL, where a process that already ended (a session's short-lived child) is no error. */
function kill9(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const file = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(file)) return out;
  for (const child of readFileSync(file, "utf8").split(/\s+/).filter(Boolean).map(Number)) {
    out.push(...descendants(child), child);
  }
  return out;
}

/** Two sshds, a server with a project, and one builder driving both hosts: each test has its own. */
interface Fleet {
  sshds: TestSshd[];
  server: TestServer;
  repo: TestRepo;
  projectId: string;
  builder: BuilderProcess;
  /** Host b's sshd started again by a test, after it killed the first. */
  revived?: ChildProcess;
}

const spec = (s: TestSshd, lxcPath: string) =>
  `root@127.0.0.1:${s.port},key=${s.clientKeyPath},host-key=${s.hostPublicKey},slots=2,lxc-path=${lxcPath}`;

/** Everything a fleet made, even half-made: processes first, then the containers they left, then dirs. */
async function stopFleet(f: Partial<Fleet>): Promise<void> {
  await cleanUp([
    () => f.builder?.stop(),
    () => {
      const revived = f.revived?.pid;
      if (!revived) return;
      for (const pid of [revived, ...descendants(revived)]) kill9(pid);
    },
    () => f.server?.stop(),
    ...(f.sshds ?? []).map((s) => () => s.stop()),
    ...PATHS.map((lxcPath) => () => destroyContainers({ lxcPath })),
    () => f.repo?.remove(),
  ]);
}

/**
 * A fleet of two hosts. With `orphan`, host b holds a leftover `cairn-*` container owned by a
 * builder since revoked, as a crashed daemon would leave, made before the builder starts.
 */
async function startFleet(opts: { orphan?: string } = {}): Promise<Fleet> {
  const sshds: TestSshd[] = [];
  const f: Partial<Fleet> = { sshds };
  try {
    sshds.push(await startSshd(), await startSshd());
    const server = await startTestServer();
    f.server = server;
    const repo = createRepo();
    f.repo = repo;
    repo.commit({ ".circleci/config.yml": jobs("warm", 1, 0) });
    const res = await server.api("/api/v1/projects", {
      method: "POST",
      json: { name: "two-hosts", repo_url: repo.bare },
    });
    expect(res.status).toBe(201);
    f.projectId = ((await res.json()) as { id: string }).id;
    if (opts.orphan) {
      const made = spawnSync("lxc-copy", [
        "-P",
        PATHS[1],
        "-n",
        TEMPLATE,
        "-N",
        opts.orphan,
        "-e",
        "-B",
        "overlay",
      ]);
      expect(made.status, made.stderr.toString()).toBe(0);
      // Owned by a builder since revoked (gone), so the reaper may remove it.
      writeFileSync(
        join(PATHS[1], opts.orphan, "cairn-owner"),
        `${await revokedBuilderId(server.url, server.token)}\n`,
      );
      expect(await cairnContainers({ lxcPath: PATHS[1] })).toContain(opts.orphan);
    }
    const builder = await startBuilder({
      server: server.url,
      adminToken: server.token,
      name: "two-hosts",
      lxcHosts: [spec(sshds[0], PATHS[0]), spec(sshds[1], PATHS[1])],
    });
    f.builder = builder;
    await until(
      "the builder to start polling",
      async (note) => {
        note(builder.output().slice(-500));
        return builder.output().includes("polling");
      },
      60_000,
    );
    return f as Fleet;
  } catch (err) {
    await stopFleet(f).catch(() => {}); // the start's own error is the one worth reading
    throw err;
  }
}

describe.skipIf(skip)("one builder, two LXC hosts", () => {
  // The hosts' templates are made once and only cloned from; everything else is each test's own.
  beforeAll(async () => {
    for (const lxcPath of PATHS) await ensureBaseTemplate({ lxcPath });
  }, 600_000);
  let fleet: Fleet | undefined;
  afterEach(async () => {
    const f = fleet;
    fleet = undefined;
    if (f) await stopFleet(f);
  });
  const use = async (opts: { orphan?: string } = {}) => {
    fleet = await startFleet(opts);
    return fleet;
  };

  const label = (i: number) => `root@127.0.0.1:${fleet!.sshds[i].port} (${PATHS[i]})`;
  async function pipeline(config: string): Promise<string[]> {
    const { server, repo, projectId } = fleet!;
    repo.commit({ ".circleci/config.yml": config });
    const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { jobs: Job[] }).jobs.map((j) => j.id);
  }
  const job = async (id: string) => (await (await fleet!.server.api(`/api/v1/jobs/${id}`)).json()) as Job;
  const log = async (id: string) => (await fleet!.server.api(`/api/v1/jobs/${id}/log?format=text`)).text();
  const states = (js: Job[]) => js.map((j) => `${j.name}=${j.status}`).join(", ");
  // Jobs here run seconds; minutes are a safety net for a loaded machine, not a speed claim.
  const allDone = (ids: string[], ms = 240_000) =>
    until(
      `jobs ${ids.join(", ")} to finish`,
      async (note) => {
        const js = await Promise.all(ids.map(job));
        note(states(js));
        return js.every((j) => !["queued", "running"].includes(j.status)) && js;
      },
      ms,
    );
  /** Which host the builder ran a job on, from its own log line. */
  const hostOf = (id: string) =>
    new RegExp(`job \\S+ \\(${id}, \\w+\\) runs on (.+)$`, "m").exec(fleet!.builder.output())?.[1];

  test("each host's orphans are reaped when the builder starts; capacity is the sum of the hosts' slots", async () => {
    const orphan = `cairn-orphan-${process.pid}`;
    const { builder, server } = await use({ orphan });
    expect(builder.output()).toContain(`${label(1)}: removed orphaned sandboxes ${orphan}`);
    expect(builder.output()).toContain("4 slot(s) on 2 host(s)");
    expect(await cairnContainers({ lxcPath: PATHS[1] })).toEqual([]);
    const list = (await (await server.api("/api/v1/builders")).json()) as {
      items: { id: string; slots: number }[];
    };
    expect(list.items.find((b) => b.id === builder.id)?.slots).toBe(4);
  }, 300_000);

  test("jobs run on both hosts, at most two at a time on each, and leave no container on either", async () => {
    await use();
    const ids = await pipeline(jobs("spread", 6, 3));
    const seen = PATHS.map(() => new Set<string>());
    let peak = [0, 0];
    const finished = await until(
      "the six jobs to finish, watching the containers on each host",
      async (note) => {
        for (const [i, lxcPath] of PATHS.entries()) {
          const now = await cairnContainers({ lxcPath });
          for (const n of now) seen[i].add(n);
          peak = peak.map((p, j) => (j === i ? Math.max(p, now.length) : p));
        }
        const js = await Promise.all(ids.map(job));
        note(`${states(js)}; containers seen on a: ${seen[0].size}, on b: ${seen[1].size}`);
        return js.every((j) => !["queued", "running"].includes(j.status)) && js;
      },
      240_000,
    );
    expect(finished.map((j) => j.status)).toEqual(ids.map(() => "success"));
    const hosts = ids.map(hostOf);
    expect(new Set(hosts)).toEqual(new Set([label(0), label(1)]));
    expect(seen[0].size).toBeGreaterThan(0);
    expect(seen[1].size).toBeGreaterThan(0);
    expect(peak[0]).toBeLessThanOrEqual(2);
    expect(peak[1]).toBeLessThanOrEqual(2);
    for (const lxcPath of PATHS) expect(await cairnContainers({ lxcPath })).toEqual([]);
  }, 420_000);

  // One scenario, not two tests: "back" only means something after "killed".
  test("with host b's sshd killed, its job is lost as an infrastructure failure and re-queued, its slots are withdrawn and jobs complete on host a; when it is back, the builder reaps what it left there and runs jobs there again", async () => {
    const f = await use();
    const { builder, sshds } = f;
    // Two long jobs at once: the second goes to b, the less loaded host.
    const long = await pipeline(jobs("long", 2, 12));
    const onB = await until("a long job to be running on host b", async (note) => {
      note(`hosts: ${long.map((x) => `${x}=${hostOf(x) ?? "none yet"}`).join(", ")}`);
      const id = long.find((x) => hostOf(x) === label(1));
      return id && (await log(id)).includes("start long") && id;
    });
    const onA = long.find((x) => x !== onB)!;
    const b = sshds[1];
    // The listener, then every connection it serves (each one's sshd first, so its TCP closes).
    const sessions = descendants(b.pid).reverse();
    for (const pid of [b.pid, ...sessions]) kill9(pid);
    await until(
      "the builder to mark host b unavailable",
      async (note) => {
        note(`builder log (tail): ${builder.output().slice(-1000)}`);
        return builder.output().includes(`${label(1)}: host unavailable`);
      },
      90_000,
    );
    const lost = await allDone([onB]);
    expect(lost[0].status).toBe("lost");
    expect(lost[0].failure_reason).toMatch(
      /^infrastructure failure: lost the connection to the fleet host .*; re-queued as attempt 2$/,
    );
    const retry = lost[0].superseded_by!;
    expect(retry).toBeString();

    const ids = await pipeline(jobs("survive", 4, 1));
    const done = await allDone([...ids, onA, retry]);
    expect(done.map((j) => j.status)).toEqual([...ids, onA, retry].map(() => "success"));
    expect([...ids, retry].map(hostOf)).toEqual([...ids, retry].map(() => label(0)));
    expect(builder.child.exitCode).toBeNull();
    expect(await cairnContainers({ lxcPath: PATHS[0] })).toEqual([]);
    // b's container could not be destroyed while b was unreachable: the reaper's job when it is back.
    expect(await cairnContainers({ lxcPath: PATHS[1] })).toEqual([`cairn-${onB.slice(0, 8)}-1`]);

    // Host b's sshd is back: the builder reaps what it left there and runs jobs there again.
    f.revived = spawn(SSHD_PATH, ["-D", "-e", "-f", join(dirname(b.clientKeyPath), "sshd_config")], {
      stdio: "ignore",
    });
    await until(
      "host b to be back",
      async (note) => {
        note(`builder log (tail): ${builder.output().slice(-1000)}`);
        return builder.output().includes(`${label(1)}: host is back`);
      },
      120_000,
    );
    expect(builder.output()).toMatch(new RegExp(`${literal(label(1))}: removed orphaned sandboxes cairn-`));
    const again = await pipeline(jobs("again", 4, 2));
    const ended = await allDone(again);
    expect(ended.map((j) => j.status)).toEqual(again.map(() => "success"));
    expect(new Set(again.map(hostOf))).toEqual(new Set([label(0), label(1)]));
    for (const lxcPath of PATHS) expect(await cairnContainers({ lxcPath })).toEqual([]);
  }, 900_000); // a safety net only: each wait above fails first, saying what it saw
});

describe("--lxc-host at registration", () => {
  const register = (...args: string[]) =>
    spawnSync(
      process.execPath,
      ["builder/cli.ts", "register", "--server", "http://127.0.0.1:9", "--token", "x", ...args],
      { encoding: "utf8", cwd: join(import.meta.dir, "..") },
    );

  test.each([
    [["--lxc-host", "root@h:22,key=/k"], /--lxc-host "root@h:22,key=\/k": host-key=KEY .* is required/],
    [["--lxc-host", "h,key=/k,host-key=SHA256:x,slots=many"], /slots must be 1 to 256, got many/],
    [
      ["--lxc-host", "h,key=/k,host-key=SHA256:x", "--slots", "2"],
      /--slots cannot be combined with --lxc-host/,
    ],
    [
      ["--lxc-host", "h,key=/k,host-key=SHA256:x", "--lxc-host", "h:22,key=/j,host-key=SHA256:y"],
      /given twice/,
    ],
    [["--lxc-host", "h,key=/k,host-key=SHA256:x", "--driver", "process"], /need LXC/],
    [["--lxc-host", "h,key=/nonexistent/key,host-key=SHA256:x"], /key=\/nonexistent\/key: ENOENT/],
  ])("%j is refused before anything is registered", (args, why) => {
    const r = register(...(args as string[]));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(why as RegExp);
    expect(r.stderr).toContain("usage:");
  });
});
