// scripts/post-receive installed in a real bare repository: real pushes notify a real server process
// through the signed generic webhook (openssl for the HMAC, curl to post).
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRepo, type TestRepo } from "./support/git.ts";
import { type ServerProcess, startServerProcess } from "./support/server-process.ts";

const HOOK = join(import.meta.dir, "..", "scripts", "post-receive");
const missing = ["openssl", "curl", "bash"].filter((t) => spawnSync(t, ["--version"]).error);

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo build
workflows:
  main:
    jobs:
      - build:
          filters:
            tags:
              only: /.*/
`;

describe.skipIf(missing.length > 0)("scripts/post-receive", () => {
  let dataDir: string;
  let server: ServerProcess;
  let repo: TestRepo;
  let projectId: string;

  const api = async (path: string, init: { method?: string; json?: unknown } = {}) => {
    const res = await fetch(`${server.url}${path}`, {
      method: init.method ?? "GET",
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
    });
    return res.json() as Promise<
      Record<string, unknown> & {
        items?: {
          sha: string;
          branch: string | null;
          tag: string | null;
          trigger: string;
          metadata: { source?: string };
        }[];
      }
    >;
  };
  const pipelines = async () => (await api(`/api/v1/projects/${projectId}/pipelines`)).items ?? [];
  const bareGit = (...args: string[]) =>
    execFileSync("git", ["-C", repo.bare, ...args], { encoding: "utf8" });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "cairn-post-receive-"));
    server = await startServerProcess(dataDir);
  }, 30_000);

  // Each test pushes to a repository and project of its own, with the hook installed.
  beforeEach(async () => {
    repo = createRepo();
    repo.commit({ ".circleci/config.yml": CONFIG }, "add config (before the hook)");
    const project = await api("/api/v1/projects", {
      method: "POST",
      json: { name: `plain-git-${crypto.randomUUID().slice(0, 8)}`, repo_url: repo.bare },
    });
    projectId = project.id as string;
    copyFileSync(HOOK, join(repo.bare, "hooks", "post-receive"));
    bareGit("config", "cairn.url", server.url);
    bareGit("config", "cairn.project", projectId);
    bareGit("config", "cairn.secret", project.webhook_secret as string);
  }, 30_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("a push to a branch starts a pipeline for the pushed commit", async () => {
    const sha = repo.commit({ "a.txt": "1\n" }, 'a "quoted" message\twith a tab\n\nand a body');
    const items = await pipelines();
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      sha,
      branch: "main",
      tag: null,
      trigger: "webhook",
      metadata: { source: "generic" },
    });
  });

  test("[skip ci], a deleted branch and a new tag", async () => {
    const before = (await pipelines()).length;
    repo.commit({ "b.txt": "1\n" }, "docs\n\n[skip ci]");
    expect(await pipelines()).toHaveLength(before);
    const topic = repo.commit({ "c.txt": "1\n" }, "topic", "topic");
    expect(await pipelines()).toHaveLength(before + 1);
    execFileSync("git", ["-C", repo.bare, "update-ref", "-d", "refs/heads/topic"]); // server-side delete runs no hook
    const work = mkdtempSync(join(tmpdir(), "cairn-push-"));
    try {
      execFileSync("git", ["clone", "--quiet", repo.bare, work]);
      execFileSync("git", ["-C", work, "push", "--quiet", "origin", `${topic}:refs/heads/gone`]);
      expect(await pipelines()).toHaveLength(before + 2);
      execFileSync("git", ["-C", work, "push", "--quiet", "origin", ":refs/heads/gone"]);
      expect(await pipelines()).toHaveLength(before + 2);
      execFileSync("git", ["-C", work, "tag", "v9", topic]);
      execFileSync("git", ["-C", work, "push", "--quiet", "origin", "v9"]);
      const [latest] = await pipelines();
      expect(latest).toMatchObject({ sha: topic, tag: "v9", branch: null });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  test("a wrong secret is refused, and the pusher is told; the push itself succeeds", async () => {
    bareGit("config", "cairn.secret", "wrong");
    const before = (await pipelines()).length;
    const work = mkdtempSync(join(tmpdir(), "cairn-push-"));
    try {
      execFileSync("git", ["clone", "--quiet", repo.bare, work]);
      execFileSync("git", [
        "-C",
        work,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "--quiet",
        "--allow-empty",
        "-m",
        "x",
      ]);
      const push = spawnSync("git", ["-C", work, "push", "origin", "main"], { encoding: "utf8" });
      expect(push.status).toBe(0);
      expect(push.stderr).toContain("NOT notified: 401");
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    expect((await pipelines()).length).toBe(before);
  });
});
