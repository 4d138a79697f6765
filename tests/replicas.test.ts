// Two server processes on one database: every job goes to exactly one builder, whichever server
// each builder talks to, and a viewer on either server sees every line of a job uploaded to the other.
// Twice: on one libSQL file, and on a remote libSQL endpoint (CAIRN_DB_URL=http://… with an auth
// token, through @libsql/client's remote driver; tests/support/hrana-server.ts serves the protocol).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServerClient } from "../builder/client.ts";
import { createSelfSigned } from "../server/tls/self-signed.ts";
import { acquireJob, LogUploader, registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo } from "./support/git.ts";
import { type HranaServer, startHranaServer } from "./support/hrana-server.ts";
import { type ServerProcess, startServerProcess } from "./support/server-process.ts";
import { readSse } from "./support/sse.ts";
import { waitForPlan } from "./support/trigger.ts";

const JOBS_PER_PIPELINE = 50;
const PIPELINES = 4; // 200 jobs
const config = `version: 2.1
jobs:
${Array.from({ length: JOBS_PER_PIPELINE }, (_, i) => `  j${i}:\n    machine: true\n    steps:\n      - run: echo ${i}\n`).join("")}
workflows:
  main:
    jobs: [${Array.from({ length: JOBS_PER_PIPELINE }, (_, i) => `j${i}`).join(", ")}]
`;

const api = (server: ServerProcess, path: string, init: RequestInit = {}) =>
  fetch(`${server.url}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${server.token}`,
      "content-type": "application/json",
      ...waitForPlan(path, init.method, init.headers),
      ...(init.headers ?? {}),
    },
  });

describe.each(["file", "remote"] as const)("two servers, one database (%s)", (storage) => {
  let a: ServerProcess;
  let b: ServerProcess;
  let remote: HranaServer | undefined;
  let projectId: string;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "cairn-replicas-"));
    let env: Record<string, string> = {};
    if (storage === "remote") {
      remote = startHranaServer(join(dataDir, "remote.db"), crypto.randomUUID());
      env = { CAIRN_DB_URL: remote.url, CAIRN_DB_AUTH_TOKEN: remote.token };
    }
    a = await startServerProcess(dataDir, { env });
    b = await startServerProcess(dataDir, { env }); // same data dir: same master key (and file)
    const repo = createRepo();
    repo.commit({ ".circleci/config.yml": config });
    const res = await api(a, "/api/v1/projects", {
      method: "POST",
      body: JSON.stringify({ name: "replicas", repo_url: repo.bare }),
    });
    projectId = ((await res.json()) as { id: string }).id;
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    remote?.stop();
  });

  test("200 jobs, 4 builders split across both servers: every job runs exactly once", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < PIPELINES; i++) {
      const server = i % 2 ? b : a;
      const res = await api(server, `/api/v1/projects/${projectId}/pipelines`, {
        method: "POST",
        body: JSON.stringify({ branch: "main" }),
      });
      expect(res.status).toBe(201);
      for (const j of ((await res.json()) as { jobs: { id: string }[] }).jobs) ids.add(j.id);
    }
    expect(ids.size).toBe(JOBS_PER_PIPELINE * PIPELINES);

    const runs = new Map<string, string[]>();
    const builders: [string, ServerClient][] = [];
    for (const [name, server] of [
      ["a1", a],
      ["a2", a],
      ["b1", b],
      ["b2", b],
    ] as const) {
      builders.push([name, await registerSimBuilder(server.url, server.token, name)]);
    }
    let remaining = ids.size;
    await Promise.all(
      builders.map(async ([name, client]) => {
        while (remaining > 0) {
          const job = await client.acquire({ free_slots: 1, driver: "process" });
          if (!job) continue;
          // Another test's job (the servers are shared): run it, but it is not one of these.
          if (!ids.has(job.job.id)) {
            await client.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
            continue;
          }
          remaining--;
          runs.set(job.job.id, [...(runs.get(job.job.id) ?? []), name]);
          const up = new LogUploader(client, job.job.id);
          up.write(`ran on ${name}\n`);
          await up.drain();
          await client.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: up.offset });
        }
      }),
    );
    expect(runs.size).toBe(ids.size);
    expect([...runs.values()].filter((r) => r.length !== 1)).toEqual([]);
    const perBuilder = new Map<string, number>();
    for (const [name] of runs.values()) perBuilder.set(name, (perBuilder.get(name) ?? 0) + 1);
    expect(perBuilder.size).toBe(4); // both servers handed out work
  }, 180_000);

  test("a viewer on one server sees every line of a job whose builder uploads to the other", async () => {
    const res = await api(a, `/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      body: JSON.stringify({ branch: "main" }),
    });
    const first = ((await res.json()) as { jobs: { id: string }[] }).jobs[0].id;
    const builder = await registerSimBuilder(a.url, a.token, "uploader");
    let job = await acquireJob(builder);
    while (job.job.id !== first) {
      await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
      job = await acquireJob(builder);
    }
    const got: string[] = [];
    let end = "";
    const viewer = (async () => {
      for await (const ev of readSse(`${b.url}/api/v1/jobs/${first}/log/stream`, {
        headers: { authorization: `Bearer ${b.token}` },
      })) {
        if (ev.event === "end") {
          end = JSON.parse(ev.data).status;
          break;
        }
        got.push(ev.data);
      }
    })();
    const up = new LogUploader(builder, first);
    const expected: string[] = [];
    for (let i = 0; i < 300; i++) {
      up.write(`line ${i}\n`);
      expected.push(`line ${i}`);
      if (i % 50 === 0) await up.drain();
    }
    await up.drain();
    await builder.finish(first, { status: "success", unsandboxed: true, log_bytes: up.offset });
    await viewer;
    expect(got).toEqual(expected);
    expect(end).toBe("success");
  }, 60_000);

  if (storage === "remote") {
    test("the servers' state lives in the remote database, reached with the token", async () => {
      // Deltas: the wrong-token test may have run first on this endpoint.
      const before = { ...remote!.stats };
      const name = `remote-${crypto.randomUUID().slice(0, 8)}`;
      const res = await api(a, "/api/v1/projects", {
        method: "POST",
        body: JSON.stringify({ name, repo_url: "https://example.invalid/r.git" }),
      });
      expect(res.status).toBe(201);
      // What one server wrote, the other reads: through the remote endpoint, with the token.
      const list = (await (await api(b, "/api/v1/projects")).json()) as { items: { name: string }[] };
      expect(list.items.map((p) => p.name)).toContain(name);
      expect(remote!.stats.pipelines).toBeGreaterThan(before.pipelines);
      expect(remote!.stats.unauthorized).toBe(before.unauthorized);
    });

    test("libsql:// reaches the same kind of endpoint over TLS (the scheme sqld and Turso are given)", async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "cairn-replicas-tls-"));
      const { files: tls } = await createSelfSigned(join(dataDir, "db"), { hosts: ["localhost"] });
      const token = crypto.randomUUID();
      const overTls = startHranaServer(join(dataDir, "tls.db"), token, {
        tls: { cert: readFileSync(tls.cert, "utf8"), key: readFileSync(tls.key, "utf8") },
      });
      try {
        expect(overTls.url).toStartWith("libsql://localhost:");
        const c = await startServerProcess(dataDir, {
          env: { CAIRN_DB_URL: overTls.url, CAIRN_DB_AUTH_TOKEN: token, NODE_EXTRA_CA_CERTS: tls.caCert },
        });
        try {
          const res = await api(c, "/api/v1/projects", {
            method: "POST",
            body: JSON.stringify({ name: "over-tls", repo_url: "https://example.invalid/r.git" }),
          });
          expect(res.status).toBe(201);
          const list = (await (await api(c, "/api/v1/projects")).json()) as { items: { name: string }[] };
          expect(list.items.map((p) => p.name)).toEqual(["over-tls"]);
          expect(overTls.stats.pipelines).toBeGreaterThan(0);
        } finally {
          await c.stop();
        }
      } finally {
        overTls.stop();
      }
    });

    test("a server given a wrong token refuses to start and says why, without the token", async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "cairn-replicas-badtoken-"));
      const wrong = `wrong-${crypto.randomUUID()}`;
      const started = startServerProcess(dataDir, {
        env: { CAIRN_DB_URL: remote!.url, CAIRN_DB_AUTH_TOKEN: wrong },
      });
      const err = (await started.then(
        () => new Error("started"),
        (e: Error) => e,
      )) as Error;
      expect(err.message).toContain("server exited (1)");
      expect(err.message).toContain(`the database at ${remote!.url} refused the auth token (HTTP 401)`);
      expect(err.message).not.toContain(wrong);
      expect(remote!.stats.unauthorized).toBeGreaterThan(0);
    });
  }
});
