// The stack most LXC end-to-end tests stand on: the harness sshd, a server, a repository with a
// config, a project for it, and a real builder process driving LXC through that sshd.
import { cleanUp } from "../harness/clean-up.ts";
import { destroyContainers, ensureBaseTemplate } from "../harness/lxc.ts";
import { startSshd, type TestSshd } from "../harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./builder-process.ts";
import { createRepo, type TestRepo } from "./git.ts";
import { startTestServer, type TestServer } from "./server.ts";

export interface LxcStack {
  sshd: TestSshd;
  server: TestServer;
  repo: TestRepo;
  projectId: string;
  builder: BuilderProcess;
  stop(): Promise<void>;
}

export async function startLxcStack(opts: {
  files: Record<string, string>;
  project: string;
  /** `extraArgs` go to `cairn-builder register` (e.g. `--resource-classes FILE`). */
  builder: { name: string; slots?: number; extraArgs?: string[] };
}): Promise<LxcStack> {
  await ensureBaseTemplate();
  // Whatever is made is undone even when a later step (or the test) fails: every step runs.
  let sshd: TestSshd | undefined;
  let server: TestServer | undefined;
  let repo: TestRepo | undefined;
  let builder: BuilderProcess | undefined;
  const stop = () =>
    cleanUp([
      () => builder?.stop(),
      () => destroyContainers(), // whatever a failed test left in this run's lxcpath
      () => server?.stop(),
      () => sshd?.stop(),
      () => repo?.remove(),
    ]);
  try {
    sshd = await startSshd();
    server = await startTestServer();
    repo = createRepo();
    repo.commit(opts.files);
    const res = await server.api("/api/v1/projects", {
      method: "POST",
      json: { name: opts.project, repo_url: repo.bare },
    });
    if (res.status !== 201)
      throw new Error(`creating project ${opts.project}: ${res.status} ${await res.text()}`);
    const projectId = ((await res.json()) as { id: string }).id;
    builder = await startBuilder({ server: server.url, adminToken: server.token, sshd, ...opts.builder });
    return { sshd, server, repo, projectId, builder, stop };
  } catch (err) {
    await stop().catch(() => {}); // the start's own error is the one worth reading
    throw err;
  }
}

/**
 * Polls `probe` until it gives a value, or fails naming `what` and the last thing the probe saw
 * (it may `note` what it looked at: a job's status, say).
 */
export async function until<T>(
  what: string,
  probe: (note: (saw: string) => void) => Promise<T | undefined | false>,
  ms = 90_000,
): Promise<T> {
  const end = Date.now() + ms;
  let saw = "";
  const note = (s: string) => {
    saw = s;
  };
  for (;;) {
    const v = await probe(note);
    if (v) return v;
    if (Date.now() > end)
      throw new Error(`waited ${Math.round(ms / 1000)} s for ${what}${saw ? `; last saw: ${saw}` : ""}`);
    await Bun.sleep(200);
  }
}
