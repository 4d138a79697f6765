// SSH into a build with the real OpenSSH client: "re-run with SSH" keeps the job's LXC container
// up; a user with write access gets a shell in that very container, a read-only user is refused,
// and both sessions' opening and closing are audited. The container goes when the session ends.
// An open session ends, with a message, once its user loses write access or their key is deleted.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { openDb } from "../server/db/client.ts";
import { projectMembers, userSshKeys, users } from "../server/db/schema.ts";
import { cleanUp } from "./harness/clean-up.ts";
import {
  cairnContainers,
  destroyContainers,
  ensureBaseTemplate,
  requireLxc,
  testLxcPath,
} from "./harness/lxc.ts";
import { startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const skip = await requireLxc({ sshd: true });
// A container directory of its own: no other builder's orphan reaper can touch these containers.
const lxcPath = skip ? "" : testLxcPath("ssh");
// Each wait is a safety net for a loaded machine (the jobs here take seconds), not a speed claim.
const WAIT_MS = 180_000;

type Job = { id: string; status: string; ssh: { enabled: boolean; command: string | null } | null };

/** A throwaway ed25519 key pair and its OpenSSH fingerprint. */
function userKey(dir: string, name: string) {
  const path = join(dir, name);
  spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path]);
  const publicKey = readFileSync(`${path}.pub`, "utf8").trim();
  const fingerprint = spawnSync("ssh-keygen", ["-lf", `${path}.pub`, "-E", "sha256"], {
    encoding: "utf8",
  }).stdout.split(" ")[1];
  return { path, publicKey, fingerprint };
}

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

/** An ssh client left running (a session held open), watched by its output and its exit. */
function openSession(args: string[]) {
  const child = spawn("ssh", args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => ({ stdout, stderr }),
    /** Resolves with what the client printed once `text` is on its stdout, or rejects saying what it saw. */
    async printed(text: string, what: string): Promise<void> {
      for (let i = 0; i < 300; i++) {
        if (stdout.includes(text)) return;
        if (child.exitCode !== null) break;
        await Bun.sleep(200);
      }
      throw new Error(`no "${text}" from ${what}; stdout: ${stdout}; stderr: ${stderr}`);
    },
    /** The client's exit, or a rejection saying what it printed if it is still open after 60 s. */
    async ended(what: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
      const code = await Promise.race([exited, Bun.sleep(60_000).then(() => "open" as const)]);
      if (code === "open")
        throw new Error(`${what} still open after 60 s; stdout: ${stdout}; stderr: ${stderr}`);
      return { code, stdout, stderr };
    },
  };
}

describe.skipIf(skip)("SSH into a build", () => {
  let sshd: TestSshd;
  let server: TestServer;
  let builder: BuilderProcess;
  let repo: TestRepo | undefined;
  const dir = mkdtempSync(join(tmpdir(), "cairn-ssh-into-"));

  beforeAll(async () => {
    await ensureBaseTemplate({ lxcPath });
    sshd = await startSshd();
    server = await startTestServer({ env: { CAIRN_SSH_WINDOW_S: "120" } });
    builder = await startBuilder({
      server: server.url,
      adminToken: server.token,
      name: "ssh-builder",
      sshd,
      extraArgs: ["--ssh-listen", "127.0.0.1:0", "--ssh-advertise", "127.0.0.1", "--lxc-path", lxcPath],
    });
  });

  afterAll(() =>
    cleanUp([
      () => builder?.stop(),
      () => destroyContainers({ lxcPath }), // whatever a failed test left
      () => server?.stop(),
      () => sshd?.stop(),
      () => rmSync(dir, { recursive: true, force: true }),
      () => repo?.remove(),
    ]),
  );

  test("a writer gets a shell in the job's container; a reader is refused; both audited", async () => {
    repo = createRepo();
    repo.commit({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  debug:\n    machine: true\n    steps:\n      - run: echo from-the-build > /root/marker\nworkflows:\n  w:\n    jobs: [debug]\n",
    });
    const project = (await (
      await server.api("/api/v1/projects", { method: "POST", json: { name: "ssh", repo_url: repo.bare } })
    ).json()) as { id: string };
    const writer = userKey(dir, "writer");
    const reader = userKey(dir, "reader");
    const { db, close } = await openDb(`file:${join(server.dataDir, "cairn.db")}`);
    for (const [login, role, key] of [
      ["writer", "write", writer],
      ["reader", "read", reader],
    ] as const) {
      const id = crypto.randomUUID();
      await db.insert(users).values({ id, login, role: "member" });
      await db.insert(projectMembers).values({ projectId: project.id, userId: id, role });
      await db.insert(userSshKeys).values({
        id: crypto.randomUUID(),
        userId: id,
        name: login,
        publicKey: key.publicKey,
        fingerprint: key.fingerprint,
      });
    }
    close();

    const p = (await (
      await server.api(`/api/v1/projects/${project.id}/pipelines`, {
        method: "POST",
        json: { branch: "main" },
      })
    ).json()) as { jobs: { id: string }[] };
    const first = p.jobs[0].id;
    const job = async (id: string) => (await (await server.api(`/api/v1/jobs/${id}`)).json()) as Job;
    /** Waits (minutes: a safety net on a loaded machine) for job `id` to reach `status`, naming what it saw. */
    const reaches = (id: string, status: string, what: string) =>
      until(
        what,
        async (note) => {
          const j = await job(id);
          note(`job ${id} is ${j.status}; builder log (tail): ${builder.output().slice(-1500)}`);
          return j.status === status;
        },
        WAIT_MS,
      );
    await reaches(first, "success", "the first run to succeed");

    const rerun = await server.api(`/api/v1/jobs/${first}/rerun`, { method: "POST", json: { ssh: true } });
    expect(rerun.status).toBe(202);
    const again = ((await rerun.json()) as { job_id: string }).job_id;
    const log = () => server.api(`/api/v1/jobs/${again}/log?format=text`).then((r) => r.text());
    await until(
      "the re-run's log to say SSH is enabled",
      async (note) => {
        const text = await log();
        note(`log (tail): ${text.slice(-1500)}`);
        return text.includes("SSH is enabled");
      },
      WAIT_MS,
    );
    const running = await job(again);
    expect(running.status).toBe("running");
    const command = running.ssh?.command ?? "";
    const m = /^ssh -p (\d+) (\S+)@127\.0\.0\.1$/.exec(command);
    expect(m?.[2]).toBe(again);
    expect(await log()).toContain(command);
    const base = [
      "-p",
      m![1],
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=accept-new",
      "-o",
      `UserKnownHostsFile=${join(dir, "known_hosts")}`,
      "-o",
      "IdentitiesOnly=yes",
    ];

    const refused = await ssh([...base, "-i", reader.path, `${again}@127.0.0.1`, "cat /root/marker"]);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toContain("Permission denied");

    const [container] = await cairnContainers({ lxcPath });
    const inside = await ssh([
      ...base,
      "-i",
      writer.path,
      `${again}@127.0.0.1`,
      "cat /root/marker; hostname",
    ]);
    expect(inside.stderr).not.toContain("Permission denied");
    expect(inside.code).toBe(0);
    expect(inside.stdout.split("\n").slice(0, 2)).toEqual(["from-the-build", container]);

    // The last session closed: the hold ends early, the job finishes, the container goes.
    await reaches(again, "success", "the re-run to end after the last session closed");
    expect(await log()).toContain("The last SSH session ended.");
    expect(await cairnContainers({ lxcPath })).toEqual([]);

    const audit = async (action: string) =>
      (
        (await (await server.api(`/api/v1/audit?action=${action}`)).json()) as {
          items: { actor: { id: string } }[];
        }
      ).items;
    const opened = await audit("ssh.session.opened");
    const closed = await audit("ssh.session.closed");
    expect(opened.length).toBe(1);
    expect(closed.length).toBe(1);
  }, 600_000); // a safety net only: each wait above fails first, saying what it saw

  test("an open session ends when its user's membership is removed, and another when its key is deleted", async () => {
    const repo = createRepo();
    repo.commit({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  debug:\n    machine: true\n    steps:\n      - run: 'true'\nworkflows:\n  w:\n    jobs: [debug]\n",
    });
    const project = (await (
      await server.api("/api/v1/projects", {
        method: "POST",
        json: { name: "ssh-revoke", repo_url: repo.bare },
      })
    ).json()) as { id: string };
    const member = userKey(dir, "member");
    const keyed = userKey(dir, "keyed");
    const ids: Record<string, string> = {};
    const { db, close } = await openDb(`file:${join(server.dataDir, "cairn.db")}`);
    const sessions: ReturnType<typeof openSession>[] = [];
    try {
      for (const [login, key] of [
        ["member", member],
        ["keyed", keyed],
      ] as const) {
        const id = crypto.randomUUID();
        ids[login] = id;
        await db.insert(users).values({ id, login, role: "member" });
        await db.insert(projectMembers).values({ projectId: project.id, userId: id, role: "write" });
        await db.insert(userSshKeys).values({
          id: crypto.randomUUID(),
          userId: id,
          name: login,
          publicKey: key.publicKey,
          fingerprint: key.fingerprint,
        });
      }

      const p = (await (
        await server.api(`/api/v1/projects/${project.id}/pipelines`, {
          method: "POST",
          json: { branch: "main" },
        })
      ).json()) as { jobs: { id: string }[] };
      const wait = async <T>(probe: () => Promise<T | false>, what: string): Promise<T> => {
        for (let i = 0; i < 300; i++) {
          const v = await probe();
          if (v) return v;
          await Bun.sleep(200);
        }
        throw new Error(`timed out waiting for ${what}\n${builder.output()}`);
      };
      const job = async (id: string) => (await (await server.api(`/api/v1/jobs/${id}`)).json()) as Job;
      await wait(async () => (await job(p.jobs[0].id)).status === "success", "the first run");
      const rerun = await server.api(`/api/v1/jobs/${p.jobs[0].id}/rerun`, {
        method: "POST",
        json: { ssh: true },
      });
      const again = ((await rerun.json()) as { job_id: string }).job_id;
      const log = () => server.api(`/api/v1/jobs/${again}/log?format=text`).then((r) => r.text());
      await wait(async () => (await log()).includes("SSH is enabled"), "the SSH window");
      const port = /^ssh -p (\d+) /.exec((await job(again)).ssh?.command ?? "")?.[1] ?? "";
      const session = (key: { path: string }) =>
        openSession([
          "-p",
          port,
          "-o",
          "BatchMode=yes",
          "-o",
          "StrictHostKeyChecking=accept-new",
          "-o",
          `UserKnownHostsFile=${join(dir, "known_hosts")}`,
          "-o",
          "IdentitiesOnly=yes",
          "-i",
          key.path,
          `${again}@127.0.0.1`,
          "echo inside; exec sleep 600",
        ]);
      const byMember = session(member);
      const byKeyed = session(keyed);
      sessions.push(byMember, byKeyed);
      await byMember.printed("inside", "the member's session");
      await byKeyed.printed("inside", "the keyed user's session");

      // The membership goes: that user's open session ends, saying why; the other stays open.
      const removed = await server.api(`/api/v1/projects/${project.id}/members/${ids.member}`, {
        method: "DELETE",
      });
      expect(removed.status).toBe(204);
      const ended = await byMember.ended("the removed member's session");
      expect(ended.code).toBe(255);
      expect(ended.stderr).toContain("your access to this job was revoked");
      expect(byKeyed.child.exitCode).toBeNull();

      // The other user's key is deleted: their session ends too.
      await db.delete(userSshKeys).where(eq(userSshKeys.fingerprint, keyed.fingerprint));
      const endedToo = await byKeyed.ended("the session of the user whose key was deleted");
      expect(endedToo.code).toBe(255);
      expect(endedToo.stderr).toContain("your access to this job was revoked");

      // Both sessions closed: the job ends and its container goes, as after any last session.
      await wait(async () => (await job(again)).status === "success", "the job to end after the sessions");
      expect(await cairnContainers({ lxcPath })).toEqual([]);
      const closed = (
        (await (await server.api("/api/v1/audit?action=ssh.session.closed")).json()) as {
          items: { actor: { id: string } }[];
        }
      ).items.map((i) => i.actor.id);
      expect(closed).toContain(ids.member);
      expect(closed).toContain(ids.keyed);
    } finally {
      for (const s of sessions) s.child.kill();
      close();
      repo.remove();
    }
  }, 180_000);

  test("a client that drops its connection ends its command without a terminal, and the job's hold", async () => {
    const repo = createRepo();
    repo.commit({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  debug:\n    machine: true\n    steps:\n      - run: 'true'\nworkflows:\n  w:\n    jobs: [debug]\n",
    });
    const project = (await (
      await server.api("/api/v1/projects", {
        method: "POST",
        json: { name: "ssh-drop", repo_url: repo.bare },
      })
    ).json()) as { id: string };
    const dropper = userKey(dir, "dropper");
    const userId = crypto.randomUUID();
    const { db, close } = await openDb(`file:${join(server.dataDir, "cairn.db")}`);
    const sessions: ReturnType<typeof openSession>[] = [];
    try {
      await db.insert(users).values({ id: userId, login: "dropper", role: "member" });
      await db.insert(projectMembers).values({ projectId: project.id, userId, role: "write" });
      await db.insert(userSshKeys).values({
        id: crypto.randomUUID(),
        userId,
        name: "dropper",
        publicKey: dropper.publicKey,
        fingerprint: dropper.fingerprint,
      });
      const p = (await (
        await server.api(`/api/v1/projects/${project.id}/pipelines`, {
          method: "POST",
          json: { branch: "main" },
        })
      ).json()) as { jobs: { id: string }[] };
      const job = async (id: string) => (await (await server.api(`/api/v1/jobs/${id}`)).json()) as Job;
      const closedBy = async () =>
        (
          (await (await server.api("/api/v1/audit?action=ssh.session.closed")).json()) as {
            items: { actor: { id: string } }[];
          }
        ).items.filter((i) => i.actor.id === userId);
      /** Polls for 60 s; a timeout says what it waited for and what it last saw. */
      const wait = async (probe: () => Promise<string | true>, what: string): Promise<void> => {
        let seen = "";
        for (let i = 0; i < 300; i++) {
          const v = await probe();
          if (v === true) return;
          seen = v;
          await Bun.sleep(200);
        }
        throw new Error(`timed out after 60 s waiting for ${what}; last saw: ${seen}\n${builder.output()}`);
      };
      const status = (id: string, want: string) => async () => {
        const s = (await job(id)).status;
        return s === want || `job status ${s}`;
      };
      await wait(status(p.jobs[0].id, "success"), "the first run");
      const rerun = await server.api(`/api/v1/jobs/${p.jobs[0].id}/rerun`, {
        method: "POST",
        json: { ssh: true },
      });
      const again = ((await rerun.json()) as { job_id: string }).job_id;
      const log = () => server.api(`/api/v1/jobs/${again}/log?format=text`).then((r) => r.text());
      await wait(
        async () => (await log()).includes("SSH is enabled") || "no SSH window in the log",
        "the SSH window",
      );
      const port = /^ssh -p (\d+) /.exec((await job(again)).ssh?.command ?? "")?.[1] ?? "";
      const [container] = await cairnContainers({ lxcPath });
      // No -t: each command runs without a terminal, so no hang-up reaches it by itself. A second
      // session keeps the job held (and its container up) while the first one's client drops.
      const open = (command: string) =>
        openSession([
          "-p",
          port,
          "-o",
          "BatchMode=yes",
          "-o",
          "StrictHostKeyChecking=accept-new",
          "-o",
          `UserKnownHostsFile=${join(dir, "known_hosts")}`,
          "-o",
          "IdentitiesOnly=yes",
          "-i",
          dropper.path,
          `${again}@127.0.0.1`,
          command,
        ]);
      const dropped = open("echo inside; exec sleep 600");
      const kept = open("echo inside; exec sleep 601");
      sessions.push(dropped, kept);
      await dropped.printed("inside", "the session to drop");
      await kept.printed("inside", "the session kept open");
      /** The `sleep N` processes in the container, one pid a line. */
      const sleeps = (n: number) =>
        spawnSync("lxc-attach", ["-P", lxcPath, "-n", container, "--", "pgrep", "-fx", `sleep ${n}`], {
          encoding: "utf8",
        }).stdout.trim();
      expect(sleeps(600)).not.toBe("");
      expect(await closedBy()).toEqual([]);

      // The client dies without a word: its TCP connection just drops.
      dropped.child.kill("SIGKILL");
      await dropped.exited;
      await wait(
        async () => (await closedBy()).length === 1 || "no ssh.session.closed audit for the user",
        "the dropped session's closed audit",
      );
      await wait(async () => {
        const left = sleeps(600);
        return left === "" || `sleep 600 still running in ${container} (pid ${left})`;
      }, "the dropped session's sleep to end in the container");
      // The other session, its command and the job's hold are untouched.
      expect(sleeps(601)).not.toBe("");
      expect(kept.child.exitCode).toBeNull();
      expect((await job(again)).status).toBe("running");

      kept.child.kill("SIGKILL");
      await kept.exited;
      await wait(
        async () => (await closedBy()).length === 2 || "one ssh.session.closed audit for the user",
        "the second session's closed audit",
      );
      await wait(status(again, "success"), "the job to end after its last session dropped");
      expect(await log()).toContain("The last SSH session ended.");
      expect(await cairnContainers({ lxcPath })).toEqual([]);
    } finally {
      for (const s of sessions) s.child.kill("SIGKILL");
      close();
    }
  }, 180_000);
});
