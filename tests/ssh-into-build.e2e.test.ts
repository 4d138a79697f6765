// SSH into a build with the real OpenSSH client: "re-run with SSH" keeps the job's LXC container
// up; a user with write access gets a shell in that very container, a read-only user is refused,
// and both sessions' opening and closing are audited. The container goes when the session ends.
// An open session ends, with a message, once its user loses write access (membership removed, role
// lowered to read, user removed) or their key is deleted, and once the server has not confirmed its
// access for longer than the builder's bound (the server unreachable).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { openDb } from "../server/db/client.ts";
import { projectMembers, userSshKeys, users } from "../server/db/schema.ts";
import { type CleanUpStep, cleanUp } from "./harness/clean-up.ts";
import {
  cairnContainers,
  destroyContainers,
  ensureBaseTemplate,
  requireLxc,
  testLxcPath,
} from "./harness/lxc.ts";
import { startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { startTestServer, type TestServer } from "./support/server.ts";
import { startTcpGate } from "./support/tcp-gate.ts";

const skip = await requireLxc({ sshd: true });
// A container directory of its own: no other builder's orphan reaper can touch these containers.
const lxcPath = skip ? "" : testLxcPath("ssh");
// Each wait is a safety net for a loaded machine (the jobs here take seconds), not a speed claim.
const WAIT_MS = 180_000;
// The keys and known hosts of this file's ssh clients.
const dir = skip ? "" : mkdtempSync(join(tmpdir(), "cairn-ssh-into-"));

/** The OpenSSH client's options for a builder's SSH server on `port`, with `key` alone. */
const sshArgs = (port: string, key: { path: string }) => [
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
];

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

/**
 * On `server`: a project whose one job has run, re-run with SSH on `builder`, and users of the
 * project with these roles, each with a key of their own (`undo` gets the clean-up of what it made).
 * Resolves once the re-run's SSH window is open.
 */
async function sshJob(
  server: TestServer,
  builder: BuilderProcess,
  name: string,
  roles: Record<string, "write" | "read">,
  undo: CleanUpStep[],
  step = "'true'",
) {
  const repo = createRepo();
  undo.push(() => repo.remove());
  repo.commit({
    ".circleci/config.yml": `version: 2.1\njobs:\n  debug:\n    machine: true\n    steps:\n      - run: ${step}\nworkflows:\n  w:\n    jobs: [debug]\n`,
  });
  const project = (await (
    await server.api("/api/v1/projects", { method: "POST", json: { name, repo_url: repo.bare } })
  ).json()) as { id: string };
  const ids: Record<string, string> = {};
  const keys: Record<string, ReturnType<typeof userKey>> = {};
  const { db, close } = await openDb(`file:${join(server.dataDir, "cairn.db")}`);
  try {
    for (const [login, role] of Object.entries(roles)) {
      const id = crypto.randomUUID();
      ids[login] = id;
      keys[login] = userKey(dir, `${name}-${login}`);
      await db.insert(users).values({ id, login, role: "member" });
      await db.insert(projectMembers).values({ projectId: project.id, userId: id, role });
      await db.insert(userSshKeys).values({
        id: crypto.randomUUID(),
        userId: id,
        name: login,
        publicKey: keys[login].publicKey,
        fingerprint: keys[login].fingerprint,
      });
    }
  } finally {
    close();
  }
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
  const p = (await (
    await server.api(`/api/v1/projects/${project.id}/pipelines`, { method: "POST", json: { branch: "main" } })
  ).json()) as { jobs: { id: string }[] };
  await reaches(p.jobs[0].id, "success", "the first run");
  const rerun = await server.api(`/api/v1/jobs/${p.jobs[0].id}/rerun`, {
    method: "POST",
    json: { ssh: true },
  });
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
  const port = /^ssh -p (\d+) /.exec((await job(again)).ssh?.command ?? "")?.[1] ?? "";
  return {
    project: project.id,
    again,
    port,
    ids,
    keys,
    /** The re-run as the API shows it, and its log as text. */
    job: () => job(again),
    log,
    /** Waits for the re-run to reach `status`. */
    reaches: (status: string, what: string) => reaches(again, status, what),
    /** The server's `ssh.session.closed` audit events. */
    closedAudits: async () =>
      (
        (await (await server.api("/api/v1/audit?action=ssh.session.closed")).json()) as {
          items: { actor: { id: string }; details: { reason?: string } }[];
        }
      ).items,
  };
}

describe.skipIf(skip)("SSH into a build", () => {
  let sshd: TestSshd;
  let server: TestServer;
  let builder: BuilderProcess;

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
    ]),
  );

  test("a writer gets a shell in the job's container; a reader is refused; both audited", async () => {
    const undo: CleanUpStep[] = [];
    try {
      const s = await sshJob(
        server,
        builder,
        "ssh",
        { writer: "write", reader: "read" },
        undo,
        "echo from-the-build > /root/marker",
      );
      const running = await s.job();
      expect(running.status).toBe("running");
      const command = running.ssh?.command ?? "";
      expect(command).toBe(`ssh -p ${s.port} ${s.again}@127.0.0.1`);
      expect(await s.log()).toContain(command);

      const refused = await ssh([
        ...sshArgs(s.port, s.keys.reader),
        `${s.again}@127.0.0.1`,
        "cat /root/marker",
      ]);
      expect(refused.code).toBe(255);
      expect(refused.stderr).toContain("Permission denied");

      const [container] = await cairnContainers({ lxcPath });
      const inside = await ssh([
        ...sshArgs(s.port, s.keys.writer),
        `${s.again}@127.0.0.1`,
        "cat /root/marker; hostname",
      ]);
      expect(inside.stderr).not.toContain("Permission denied");
      expect(inside.code).toBe(0);
      expect(inside.stdout.split("\n").slice(0, 2)).toEqual(["from-the-build", container]);

      // The last session closed: the hold ends early, the job finishes, the container goes.
      await s.reaches("success", "the re-run to end after the last session closed");
      expect(await s.log()).toContain("The last SSH session ended.");
      expect(await cairnContainers({ lxcPath })).toEqual([]);

      const opened = (await (await server.api("/api/v1/audit?action=ssh.session.opened")).json()) as {
        items: { actor: { id: string } }[];
      };
      // This test's users only: the server is the file's, other tests audit their sessions too.
      const mine = (items: { actor: { id: string } }[]) =>
        items.map((i) => i.actor.id).filter((id) => id === s.ids.writer || id === s.ids.reader);
      expect(mine(opened.items)).toEqual([s.ids.writer]);
      expect(mine(await s.closedAudits())).toEqual([s.ids.writer]);
    } finally {
      await cleanUp(undo);
    }
  }, 600_000); // a safety net only: each wait above fails first, saying what it saw

  test("an open session ends when its user loses write access: membership removed, role lowered to read, user removed, key deleted", async () => {
    const undo: CleanUpStep[] = [];
    try {
      const roles = { member: "write", lowered: "write", removed: "write", keyed: "write" } as const;
      const s = await sshJob(server, builder, "ssh-revoke", roles, undo);
      const sessions: Record<string, ReturnType<typeof openSession>> = {};
      for (const login of Object.keys(roles)) {
        const open = openSession([
          ...sshArgs(s.port, s.keys[login]),
          `${s.again}@127.0.0.1`,
          "echo inside; exec sleep 600",
        ]);
        undo.unshift(() => open.child.kill());
        sessions[login] = open;
      }
      for (const [login, open] of Object.entries(sessions))
        await open.printed("inside", `${login}'s session`);
      /** `login`'s session ends, saying its access was revoked; the sessions in `others` stay open. */
      const endsRevoked = async (login: string, others: string[]) => {
        const ended = await sessions[login].ended(`${login}'s session`);
        expect(ended.code).toBe(255);
        expect(ended.stderr).toContain("your access to this job was revoked");
        for (const o of others) expect(sessions[o].child.exitCode).toBeNull();
      };

      // The membership goes: that user's open session ends, saying why; the others stay open.
      const removed = await server.api(`/api/v1/projects/${s.project}/members/${s.ids.member}`, {
        method: "DELETE",
      });
      expect(removed.status).toBe(204);
      await endsRevoked("member", ["lowered", "removed", "keyed"]);

      // A writer lowered to read: SSH into a build takes write access.
      const lowered = await server.api(`/api/v1/projects/${s.project}/members`, {
        method: "POST",
        json: { user_id: s.ids.lowered, role: "read" },
      });
      expect(lowered.status).toBe(200);
      await endsRevoked("lowered", ["removed", "keyed"]);

      // An admin removes a user altogether.
      expect((await server.api(`/api/v1/users/${s.ids.removed}`, { method: "DELETE" })).status).toBe(204);
      await endsRevoked("removed", ["keyed"]);

      // The last user's key is deleted: their session ends too.
      const { db, close } = await openDb(`file:${join(server.dataDir, "cairn.db")}`);
      try {
        await db.delete(userSshKeys).where(eq(userSshKeys.fingerprint, s.keys.keyed.fingerprint));
      } finally {
        close();
      }
      await endsRevoked("keyed", []);

      // All sessions closed: the job ends and its container goes, as after any last session; each
      // closing is audited, saying the access was revoked.
      await s.reaches("success", "the job to end after the sessions");
      expect(await cairnContainers({ lxcPath })).toEqual([]);
      const closed = await s.closedAudits();
      for (const login of Object.keys(roles))
        expect(closed.find((i) => i.actor.id === s.ids[login])?.details.reason).toBe("revoked");
    } finally {
      await cleanUp(undo);
    }
  }, 300_000);

  test("an open session ends, saying so, once the server has not confirmed its access within the builder's bound", async () => {
    // A server and builder of this test's own: the builder reaches its server through a gate the
    // test shuts, as if the server were unreachable, and opens again so the ending gets audited.
    // The lease outlives the shut gate, so the job is not re-queued meanwhile.
    const undo: CleanUpStep[] = [];
    try {
      const own = await startTestServer({ env: { CAIRN_SSH_WINDOW_S: "120", CAIRN_LEASE_TTL_MS: "600000" } });
      undo.unshift(() => own.stop());
      const gate = await startTcpGate({ host: "127.0.0.1", port: Number(new URL(own.url).port) });
      undo.unshift(() => gate.stop());
      const cut = await startBuilder({
        server: gate.url,
        adminToken: own.token,
        name: "ssh-unconfirmed-builder",
        sshd,
        extraArgs: [
          "--ssh-listen",
          "127.0.0.1:0",
          "--ssh-advertise",
          "127.0.0.1",
          "--lxc-path",
          lxcPath,
          "--ssh-confirm-within",
          "3",
        ],
      });
      // Its builder first, then whatever container a failure left (this file's builder is idle now).
      undo.unshift(
        () => cut.stop(),
        () => destroyContainers({ lxcPath }),
      );
      const s = await sshJob(own, cut, "ssh-unconfirmed", { held: "write" }, undo);
      const held = openSession([
        ...sshArgs(s.port, s.keys.held),
        `${s.again}@127.0.0.1`,
        "echo inside; exec sleep 600",
      ]);
      undo.unshift(() => held.child.kill());
      await held.printed("inside", "the session");

      gate.shut();
      const ended = await held.ended("the session the server can no longer confirm");
      expect(ended.code).toBe(255);
      expect(ended.stderr).toContain("the Cairn server could not confirm your access to this job");
      // The builder logs the ending as it reports it: after the client has seen it close, maybe.
      await until(
        "the builder's log of the ending",
        async (note) => {
          note(cut.output().slice(-1500));
          return cut.output().includes("the server did not confirm their access in time");
        },
        WAIT_MS,
      );

      // The server is back: the builder's report of the ending reaches it, and the job ends.
      gate.open();
      await until(
        "the unconfirmed session's closed audit",
        async (note) => {
          const closed = await s.closedAudits();
          note(JSON.stringify(closed));
          return closed.some((i) => i.actor.id === s.ids.held && i.details.reason === "unconfirmed");
        },
        WAIT_MS,
      );
      await s.reaches("success", "the job to end after its session");
      expect(await cairnContainers({ lxcPath })).toEqual([]);
    } finally {
      await cleanUp(undo);
    }
  }, 300_000);

  test("a client that drops its connection ends its command without a terminal, and the job's hold", async () => {
    const undo: CleanUpStep[] = [];
    try {
      const s = await sshJob(server, builder, "ssh-drop", { dropper: "write" }, undo);
      const closedBy = async () => (await s.closedAudits()).filter((i) => i.actor.id === s.ids.dropper);
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
      const [container] = await cairnContainers({ lxcPath });
      // No -t: each command runs without a terminal, so no hang-up reaches it by itself. A second
      // session keeps the job held (and its container up) while the first one's client drops.
      const open = (command: string) =>
        openSession([...sshArgs(s.port, s.keys.dropper), `${s.again}@127.0.0.1`, command]);
      const dropped = open("echo inside; exec sleep 600");
      const kept = open("echo inside; exec sleep 601");
      undo.unshift(
        () => dropped.child.kill("SIGKILL"),
        () => kept.child.kill("SIGKILL"),
      );
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
      expect((await s.job()).status).toBe("running");

      kept.child.kill("SIGKILL");
      await kept.exited;
      await wait(
        async () => (await closedBy()).length === 2 || "one ssh.session.closed audit for the user",
        "the second session's closed audit",
      );
      await s.reaches("success", "the job to end after its last session dropped");
      expect(await s.log()).toContain("The last SSH session ended.");
      expect(await cairnContainers({ lxcPath })).toEqual([]);
    } finally {
      await cleanUp(undo);
    }
  }, 300_000); // a safety net only: each wait above fails first, saying what it saw
});
