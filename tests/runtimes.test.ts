// One API suite, three runtimes: the same Web-standard core served by Bun.serve, by
// @hono/node-server on Node 20, and by Deno.serve — health, auth, projects, pipelines, log reading.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireJob, LogUploader, registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo } from "./support/git.ts";
import { type Runtime, type ServerProcess, startServerProcess } from "./support/server-process.ts";
import { readSse } from "./support/sse.ts";
import { waitForPlan } from "./support/trigger.ts";

const CONFIG =
  "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: make\nworkflows:\n  main:\n    jobs: [build]\n";

describe.each(["bun", "node", "deno"] as Runtime[])("the API on %s", (runtime) => {
  let server: ServerProcess;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${server.token}`,
        "content-type": "application/json",
        ...waitForPlan(path, init.method, init.headers),
        ...(init.headers ?? {}),
      },
    });

  beforeAll(async () => {
    server = await startServerProcess(mkdtempSync(join(tmpdir(), `cairn-${runtime}-`)), { runtime });
  });
  afterAll(() => server?.stop());

  test("health, and the runtime it runs on", async () => {
    const res = await fetch(`${server.url}/api/v1/health`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("ok");
    expect(server.output()).toContain(`; ${runtime})`);
  });

  test("auth: no token and a bad token are 401 with the error shape", async () => {
    for (const headers of [{}, { authorization: "Bearer nope" }] as Record<string, string>[]) {
      const res = await fetch(`${server.url}/api/v1/projects`, { headers });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    }
  });

  test("projects, pipelines and log reading", async () => {
    const repo = createRepo();
    repo.commit({ ".circleci/config.yml": CONFIG });
    const project = (await (
      await api("/api/v1/projects", {
        method: "POST",
        body: JSON.stringify({ name: `p-${runtime}`, repo_url: repo.bare }),
      })
    ).json()) as { id: string };
    expect((await api("/api/v1/projects")).status).toBe(200);
    const res = await api(`/api/v1/projects/${project.id}/pipelines`, {
      method: "POST",
      body: JSON.stringify({ branch: "main" }),
    });
    expect(res.status).toBe(201);
    const pipeline = (await res.json()) as { id: string; jobs: { id: string }[] };
    const bad = await api(`/api/v1/projects/${project.id}/pipelines`, { method: "POST", body: "{nope" });
    expect(bad.status).toBe(400);

    const builder = await registerSimBuilder(server.url, server.token, runtime);
    const job = await acquireJob(builder);
    expect(job.job.id).toBe(pipeline.jobs[0].id);
    const uploader = new LogUploader(builder, job.job.id);
    uploader.write("\x1b[32mgreen\x1b[0m\nplain\n");
    await uploader.drain();
    await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: uploader.offset });

    const log = (await (await api(`/api/v1/jobs/${job.job.id}/log`)).json()) as {
      lines: { text: string; spans: unknown[] }[];
    };
    expect(log.lines.map((l) => l.text)).toEqual(["green", "plain"]);
    expect(log.lines[0].spans.length).toBe(1);
    const events: string[] = [];
    for await (const ev of readSse(`${server.url}/api/v1/jobs/${job.job.id}/log/stream`, {
      headers: { authorization: `Bearer ${server.token}` },
    })) {
      events.push(`${ev.event}:${ev.data}`);
      if (ev.event === "end") break;
    }
    expect(events).toEqual(["line:green", "line:plain", 'end:{"status":"success"}']);
    // The WebSocket stream, the UI's: the same lines and result, and no handshake without a token.
    const wsUrl = `${server.url.replace("http", "ws")}/api/v1/jobs/${job.job.id}/log/ws`;
    expect(await wsMessages(wsUrl, { authorization: `Bearer ${server.token}` })).toEqual([
      "line:green",
      "line:plain",
      "end:success",
    ]);
    expect(await wsMessages(wsUrl, {})).toBe("refused");
    const p = (await (await api(`/api/v1/pipelines/${pipeline.id}`)).json()) as { status: string };
    expect(p.status).toBe("success");
  });
});

/** The messages of a log WebSocket up to its end, as `type:text` / `end:status`; "refused" when the handshake fails. */
function wsMessages(url: string, headers: Record<string, string>): Promise<string[] | "refused"> {
  return new Promise((resolve) => {
    const out: string[] = [];
    let opened = false;
    // Bun's WebSocket takes request headers, as a browser's cookie would travel.
    const ws = new WebSocket(url, { headers } as unknown as string[]);
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(String(m.data)) as { type: string; text?: string; status?: string };
      if (msg.type === "line") out.push(`line:${msg.text}`);
      if (msg.type === "end") out.push(`end:${msg.status}`);
    };
    ws.onclose = () => resolve(opened ? out : "refused");
  });
}
