// The builder's round of questions about its open SSH connections (`ssh/recheck`, one call for
// all): each answered in order with the key's user while they may still write to the job's project
// and the job runs with SSH on that builder, else null. The sessions themselves, over a real
// OpenSSH client into LXC, are tests/ssh-into-build.e2e.test.ts.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { PROTOCOL_VERSION, routes } from "../protocol/index.ts";
import { jobs, projectMembers, userSshKeys, users } from "../server/db/schema.ts";
import { cleanUp } from "./harness/clean-up.ts";
import { acquireJob, registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;
let repo: TestRepo;
beforeAll(async () => {
  server = await startTestServer();
  repo = createRepo();
  repo.commit({
    ".circleci/config.yml":
      "version: 2.1\njobs:\n  a:\n    machine: true\n    steps:\n      - run: echo a\nworkflows:\n  w:\n    jobs: [a]\n",
  });
});
afterAll(() => cleanUp([() => server?.stop(), () => repo?.remove()]));

/** A user with this project role and one key, whose fingerprint is returned with their id. */
async function userWith(projectId: string, login: string, role: "write" | "read") {
  const { db } = server.deps;
  const id = crypto.randomUUID();
  const fingerprint = `SHA256:${login}-${id}`;
  await db.insert(users).values({ id, login, role: "member" });
  await db.insert(projectMembers).values({ projectId, userId: id, role });
  await db.insert(userSshKeys).values({
    id: crypto.randomUUID(),
    userId: id,
    name: login,
    publicKey: `ssh-ed25519 AAAA${login}`,
    fingerprint,
  });
  return { id, login, fingerprint };
}

test("one call answers for every open connection, in order; another builder's job, or an ended one, lets no one in", async () => {
  const project = (await (
    await server.api("/api/v1/projects", { method: "POST", json: { name: "recheck", repo_url: repo.bare } })
  ).json()) as { id: string };
  const pipeline = (await (
    await server.api(`/api/v1/projects/${project.id}/pipelines`, { method: "POST", json: { branch: "main" } })
  ).json()) as { id: string };
  const holder = await registerSimBuilder(server.url, server.token, "recheck-holder");
  const other = await registerSimBuilder(server.url, server.token, "recheck-other");
  const jobId = (await acquireJob(holder, { pipeline: pipeline.id })).job.id;
  // As a re-run with SSH leaves it (the SSH hold itself is the e2e test's).
  await server.deps.db.update(jobs).set({ sshEnabled: true }).where(eq(jobs.id, jobId));
  const writer = await userWith(project.id, "recheck-writer", "write");
  const reader = await userWith(project.id, "recheck-reader", "read");
  const ask = (fingerprint: string) => ({ jobId, fingerprint });

  expect(
    await holder.sshRecheck([
      ask(writer.fingerprint),
      ask(reader.fingerprint),
      ask("SHA256:nobody"),
      { jobId: crypto.randomUUID(), fingerprint: writer.fingerprint },
      ask(writer.fingerprint),
    ]),
  ).toEqual([
    { id: writer.id, login: writer.login },
    null,
    null,
    null,
    { id: writer.id, login: writer.login },
  ]);
  expect(await holder.sshRecheck([])).toEqual([]);
  // Only the builder holding the job's lease hears that anyone may stay in it.
  expect(await other.sshRecheck([ask(writer.fingerprint)])).toEqual([null]);

  await holder.finish(jobId, { status: "success", unsandboxed: true, log_bytes: 0 });
  expect(await holder.sshRecheck([ask(writer.fingerprint)])).toEqual([null]);
});

test("asking takes a builder token, and a malformed question is refused", async () => {
  const res = await fetch(new URL(routes.sshRecheck, server.url), {
    method: "POST",
    headers: { "content-type": "application/json", "cairn-protocol": String(PROTOCOL_VERSION) },
    body: JSON.stringify({ connections: [] }),
  });
  expect(res.status).toBe(401);
  const asking = await registerSimBuilder(server.url, server.token, "recheck-malformed");
  await expect(asking.sshRecheck([{ jobId: "x".repeat(101), fingerprint: "SHA256:x" }])).rejects.toThrow(
    /job_id/,
  );
});
