// Checkout of a private repository over a real sshd with the project's deploy key and pinned host
// keys: the server's mirror and the builder (a real daemon process: process driver, local transport,
// so git runs on "the fleet host", this machine) both use only that key and only those host keys. A
// wrong pinned host key fails the checkout with a clear message; the key never reaches the steps.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { generateDeployKey } from "../server/source/deploy-keys.ts";
import { requireSshd, startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const skip = requireSshd();

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - checkout
      - run:
          name: Show the tree
          command: |
            cat README.md
            echo "head=$(git rev-parse HEAD)"
            if grep -rqs "OPENSSH PRIVATE"" KEY" . ; then echo "KEY IN TREE"; else echo "no key in the tree"; fi
            if env | grep -q GIT_SSH_COMMAND; then echo "SSH COMMAND LEAKED"; else echo "no ssh command in the environment"; fi
workflows:
  main:
    jobs: [build]
`;

const keyDirs = () => readdirSync("/tmp").filter((n) => n.startsWith("cairn-key-"));
let keysBefore = new Set<string>();
beforeEach(() => {
  keysBefore = new Set(keyDirs());
});
/** Key dirs made since the test began that stay: ours. Other runs on this machine make (and remove) theirs. */
async function keyDirsLeft(): Promise<string[]> {
  const added = () => keyDirs().filter((n) => !keysBefore.has(n));
  for (let i = 0; i < 240 && added().length; i++) await Bun.sleep(250);
  return added();
}

describe.skipIf(skip)("checkout with a deploy key over a real sshd", () => {
  let sshd: TestSshd;
  let server: TestServer;
  let builder: BuilderProcess | undefined;
  let projectId: string;
  let sha: string;
  let rightHosts: string;
  let wrongHosts: string;

  const api = async (path: string, init: { method?: string; json?: unknown } = {}) => {
    const res = await server.api(path, init);
    return { status: res.status, body: JSON.parse((await res.text()) || "null") };
  };
  const waitJob = async (id: string) => {
    for (let i = 0; i < 600; i++) {
      const job = (await api(`/api/v1/jobs/${id}`)).body as { status: string; failure_reason: string | null };
      if (!["queued", "running"].includes(job.status)) return job;
      await Bun.sleep(100);
    }
    throw new Error(`job ${id} did not finish; builder output:\n${builder?.output()}`);
  };
  const logOf = async (id: string) => (await server.api(`/api/v1/jobs/${id}/log?format=text`)).text();

  // The sshd is shared; each test has a server, a project and a builder of its own.
  beforeAll(async () => {
    sshd = await startSshd();
    rightHosts = `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}`;
    const impostor = await generateDeployKey("impostor");
    wrongHosts = `[127.0.0.1]:${sshd.port} ${impostor.publicKey.split(" ").slice(0, 2).join(" ")}`;
  }, 30_000);
  afterAll(async () => {
    await sshd?.stop();
  });

  beforeEach(async () => {
    server = await startTestServer();
    const repo = createRepo();
    sha = repo.commit(
      { ".circleci/config.yml": CONFIG, "README.md": "private readme 7f3a\n" },
      "private repo",
    );
    const url = `ssh://root@127.0.0.1:${sshd.port}${repo.bare}`;
    projectId = (await api("/api/v1/projects", { method: "POST", json: { name: "private", repo_url: url } }))
      .body.id;
  }, 30_000);
  afterEach(async () => {
    await builder?.stop();
    builder = undefined;
    await server?.stop();
  });

  /** What the first test sets up step by step: a deploy key the repository accepts, the right host keys. */
  async function withDeployKey(): Promise<void> {
    const key = await api(`/api/v1/projects/${projectId}/deploy-key`, { method: "POST" });
    expect(key.status).toBe(201);
    sshd.addAuthorizedKey(key.body.public_key);
    expect(
      (await api(`/api/v1/projects/${projectId}`, { method: "PATCH", json: { known_hosts: rightHosts } }))
        .status,
    ).toBe(200);
  }

  test("the server's mirror needs pinned host keys, and a key the repository accepts", async () => {
    const key = await api(`/api/v1/projects/${projectId}/deploy-key`, { method: "POST" });
    expect(key.status).toBe(201);
    const none = await api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    // Answered before the fetch: the mirror's refusal shows on the pipeline, in state `error`.
    expect(none.status).toBe(201);
    expect(none.body.status).toBe("error");
    expect(none.body.config_errors[0].message).toContain("known_hosts");
    expect(
      (await api(`/api/v1/projects/${projectId}`, { method: "PATCH", json: { known_hosts: rightHosts } }))
        .status,
    ).toBe(200);
    // Not yet authorized at the repository: the deploy key is refused.
    const refused = await api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(refused.status).toBe(201);
    expect(refused.body.status).toBe("error");
    expect(refused.body.config_errors[0].message).toMatch(/^repository_unavailable: /);
    sshd.addAuthorizedKey(key.body.public_key);
    expect(
      (await api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } }))
        .status,
    ).toBe(201);
    expect(await keyDirsLeft()).toEqual([]);
    // The mirror's key directory is emptied after each fetch, and stays private to the server's user.
    const mirrorKeys = join(server.dataDir, "repos", ".keys");
    expect(readdirSync(mirrorKeys)).toEqual([]);
    expect(statSync(mirrorKeys).mode & 0o777).toBe(0o700);
  }, 30_000);

  test("a wrong pinned host key: the mirror refuses, and so does the builder's checkout, saying why", async () => {
    await withDeployKey();
    // Queued while the pinned key was right; the builder gets the project's host keys when it takes the job.
    const queued = await api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(queued.status).toBe(201);
    expect(
      (await api(`/api/v1/projects/${projectId}`, { method: "PATCH", json: { known_hosts: wrongHosts } }))
        .status,
    ).toBe(200);
    const mirror = await api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(mirror.status).toBe(201);
    expect(mirror.body.status).toBe("error");
    expect(mirror.body.config_errors[0].message).toContain("Host key verification failed");

    builder = await startBuilder({ server: server.url, adminToken: server.token, name: "checkout" });
    const jobId = queued.body.jobs[0].id;
    const job = await waitJob(jobId);
    expect(job.status).toBe("failed");
    const log = await logOf(jobId);
    expect(log).toContain("Host key verification failed");
    expect(log).toContain("Checkout failed: host key verification failed for 127.0.0.1:");
    expect(log).not.toContain("private readme 7f3a");
    expect(await keyDirsLeft()).toEqual([]);
  }, 60_000);

  test("with the right host key the builder clones with the deploy key; the key stays out of the tree and the steps", async () => {
    await withDeployKey();
    builder = await startBuilder({ server: server.url, adminToken: server.token, name: "checkout" });
    expect(
      (await api(`/api/v1/projects/${projectId}`, { method: "PATCH", json: { known_hosts: rightHosts } }))
        .status,
    ).toBe(200);
    const created = await api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(created.status).toBe(201);
    const jobId = created.body.jobs[0].id;
    const job = await waitJob(jobId);
    const log = await logOf(jobId);
    expect({ status: job.status, reason: job.failure_reason, log }).toMatchObject({
      status: "success",
      reason: null,
    });
    expect(log).toContain("with the project's deploy key");
    expect(log).toContain("private readme 7f3a");
    expect(log).toContain(`head=${sha}`);
    expect(log).toContain("no key in the tree");
    expect(log).toContain("no ssh command in the environment");
    expect(log).not.toContain("PRIVATE KEY");
    expect(await keyDirsLeft()).toEqual([]);
  }, 60_000);
});
