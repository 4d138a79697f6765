// Live logs across real processes: the server killed -9 mid-upload loses no acknowledged byte,
// viewers that drop and resume with Last-Event-ID reconstruct the log exactly, a stalled viewer
// does not hold up another, and a viewer without a token gets nothing.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServerClient } from "../builder/client.ts";
import { acquireJob, LogUploader, registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo } from "./support/git.ts";
import { type ServerProcess, startServerProcess } from "./support/server-process.ts";
import { readSse } from "./support/sse.ts";
import { waitForPlan } from "./support/trigger.ts";

const JOBS = 6;
const config = `version: 2.1
jobs:
${Array.from({ length: JOBS }, (_, i) => `  j${i}:\n    machine: true\n    steps:\n      - run: echo ${i}\n`).join("")}
workflows:
  main:
    jobs: [${Array.from({ length: JOBS }, (_, i) => `j${i}`).join(", ")}]
`;

/** A log with colours, \r progress and long lines, and the text lines it must produce. */
function makeLog(lines: number): { bytes: Uint8Array; expected: string[] } {
  const expected: string[] = [];
  let raw = "";
  for (let i = 1; i <= lines; i++) {
    if (i % 50 === 0) {
      raw += `progress 10%\rprogress 50%\rprogress 100% line ${i}\n`;
      expected.push(`progress 100% line ${i}`);
    } else {
      raw += `\x1b[3${i % 8}mline ${i}\x1b[0m ${"x".repeat(i % 97)}\n`;
      expected.push(`line ${i} ${"x".repeat(i % 97)}`);
    }
  }
  return { bytes: new TextEncoder().encode(raw), expected };
}

let dataDir: string;
let server: ServerProcess;
let builder: ServerClient;
let projectId: string;

async function api(path: string, init: RequestInit = {}) {
  return fetch(`${server.url}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${server.token}`,
      "content-type": "application/json",
      ...waitForPlan(path, init.method, init.headers),
      ...(init.headers ?? {}),
    },
  });
}

async function newPipeline(): Promise<void> {
  const res = await api(`/api/v1/projects/${projectId}/pipelines`, {
    method: "POST",
    body: JSON.stringify({ branch: "main" }),
  });
  expect(res.status).toBe(201);
}

async function fullLogText(jobId: string): Promise<string[]> {
  const r = (await (await api(`/api/v1/jobs/${jobId}/log?limit=10000`)).json()) as {
    lines: { text: string }[];
  };
  return r.lines.map((l) => l.text);
}

/**
 * A viewer of the job's log that reconnects with `Last-Event-ID` whenever its stream ends without the
 * result: after `budget()` lines (it hangs up), or when the server goes away (it retries until the
 * server is back). Resolves with every line's text it got, once the result came.
 */
async function resumingViewer(jobId: string, budget: () => number = () => Number.POSITIVE_INFINITY) {
  const got: string[] = [];
  let lastId = "";
  for (let down = 0; ; ) {
    const abort = new AbortController();
    let left = budget();
    const headers: Record<string, string> = { authorization: `Bearer ${server.token}` };
    if (lastId) headers["last-event-id"] = lastId;
    try {
      for await (const ev of readSse(`${server.url}/api/v1/jobs/${jobId}/log/stream`, {
        headers,
        signal: abort.signal,
      })) {
        if (ev.event === "end") return got;
        got.push(ev.data);
        lastId = ev.id!;
        if (--left === 0) {
          abort.abort();
          break;
        }
      }
    } catch (err) {
      if ((err as Error).name === "AbortError") continue;
      // The server is down (being restarted): try again for up to 10 s. An HTTP error is a failure.
      if ((err as Error).message.startsWith("SSE ") || ++down > 200) throw err;
      await Bun.sleep(50);
    }
  }
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "cairn-live-"));
  server = await startServerProcess(dataDir);
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": config });
  projectId = (
    (await (
      await api("/api/v1/projects", {
        method: "POST",
        body: JSON.stringify({ name: "live", repo_url: repo.bare }),
      })
    ).json()) as { id: string }
  ).id;
  builder = await registerSimBuilder(server.url, server.token);
  await newPipeline();
});
afterAll(() => server.stop());

describe("ingest survives a server crash", () => {
  test("kill -9 mid-upload: every acknowledged byte is kept, the builder resumes exactly, a viewer misses nothing", async () => {
    const job = await acquireJob(builder);
    const { bytes, expected } = makeLog(3000);
    const uploader = new LogUploader(builder, job.job.id);
    // Viewers get lines before their commit: this one may have lines the crash took from storage;
    // the builder re-sends their bytes, the same lines come again, and it keeps each line once.
    const viewer = resumingViewer(job.job.id);
    // The build keeps printing in small pieces while the server is killed and restarted; past a
    // third of its log it prints slowly until the kill, so the kill finds that third acknowledged
    // and newer bytes not (the uploader flushes every 100 ms).
    let printed = false;
    let killed = false;
    const printing = (async () => {
      for (let at = 0; at < bytes.length; at += 2048) {
        uploader.write(bytes.subarray(at, at + 2048));
        await Bun.sleep(at > bytes.length / 3 && !killed ? 10 : 1);
      }
      printed = true;
    })();
    while (!printed && (uploader.acknowledged < bytes.length / 3 || uploader.offset <= uploader.acknowledged))
      await Bun.sleep(1);
    const ackedBeforeCrash = uploader.acknowledged;
    await server.kill9();
    killed = true;
    expect(ackedBeforeCrash).toBeGreaterThanOrEqual(bytes.length / 3);
    expect(uploader.offset).toBeGreaterThan(ackedBeforeCrash); // bytes were in flight or waiting
    server = await startServerProcess(dataDir, { port: server.port });
    await printing;
    await uploader.drain();
    expect(uploader.offset).toBe(bytes.length);
    const finish = await builder.finish(job.job.id, {
      status: "success",
      unsandboxed: true,
      log_bytes: bytes.length,
    });
    expect(finish.ok).toBe(true);
    expect(await fullLogText(job.job.id)).toEqual(expected);
    expect(await viewer).toEqual(expected);
  });
});

describe("viewers", () => {
  test("a viewer that disconnects at random points and resumes reconstructs the whole log", async () => {
    const job = await acquireJob(builder);
    const { bytes, expected } = makeLog(2000);
    const uploader = new LogUploader(builder, job.job.id);
    let seed = 7;
    const viewer = resumingViewer(job.job.id, () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return (seed % 300) + 1;
    });
    for (let at = 0; at < bytes.length; at += 4096) {
      uploader.write(bytes.subarray(at, at + 4096));
      if (at % (4096 * 8) === 0) await uploader.drain();
    }
    await uploader.drain();
    await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: bytes.length });
    expect(await viewer).toEqual(expected);
  });

  test("a stalled viewer does not hold up ingestion or another viewer", async () => {
    const job = await acquireJob(builder);
    const { bytes, expected } = makeLog(20_000);
    // The stalled viewer connects and never reads its body.
    const stalled = await fetch(`${server.url}/api/v1/jobs/${job.job.id}/log/stream`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    expect(stalled.status).toBe(200);
    const got: string[] = [];
    let end: string | undefined;
    const reader = (async () => {
      for await (const ev of readSse(`${server.url}/api/v1/jobs/${job.job.id}/log/stream`, {
        headers: { authorization: `Bearer ${server.token}` },
      })) {
        if (ev.event === "end") {
          end = JSON.parse(ev.data).status;
          break;
        }
        got.push(ev.data);
      }
    })();
    const uploader = new LogUploader(builder, job.job.id);
    uploader.write(bytes);
    await uploader.drain();
    await builder.finish(job.job.id, { status: "failed", unsandboxed: true, log_bytes: bytes.length });
    await reader;
    expect(got).toEqual(expected);
    expect(end).toBe("failed");
    await stalled.body?.cancel();
  });

  test("SSE and WebSocket without a valid token are refused", async () => {
    const job = await acquireJob(builder);
    let res = await fetch(`${server.url}/api/v1/jobs/${job.job.id}/log/stream`);
    expect(res.status).toBe(401);
    res = await fetch(`${server.url}/api/v1/jobs/${job.job.id}/log/stream`, {
      headers: { authorization: "Bearer nope" },
    });
    expect(res.status).toBe(401);
    const refused = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`${server.url.replace("http", "ws")}/api/v1/jobs/${job.job.id}/log/ws`);
      ws.onopen = () => resolve("open");
      ws.onerror = () => resolve("error");
    });
    expect(refused).toBe("error");
    await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
  });

  test("the WebSocket streams the same lines with style spans, then the result", async () => {
    const job = await acquireJob(builder);
    const { bytes, expected } = makeLog(500);
    const uploader = new LogUploader(builder, job.job.id);
    uploader.write(bytes);
    await uploader.drain();
    const messages: { type: string; n?: number; text?: string; spans?: unknown[]; status?: string }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(
        `${server.url.replace("http", "ws")}/api/v1/jobs/${job.job.id}/log/ws?from=100`,
        {
          headers: { authorization: `Bearer ${server.token}` },
        } as unknown as string[],
      );
      ws.onmessage = (m) => {
        const msg = JSON.parse(String(m.data));
        messages.push(msg);
        if (msg.type === "end") resolve();
      };
      ws.onerror = () => reject(new Error("websocket error"));
    });
    await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: bytes.length });
    await done;
    const lines = messages.filter((m) => m.type === "line");
    expect(lines.map((l) => l.text)).toEqual(expected.slice(100));
    expect(lines[0].n).toBe(101);
    expect(lines.some((l) => (l.spans?.length ?? 0) > 0)).toBe(true);
    expect(messages.at(-1)).toEqual({ type: "end", status: "success" });
  });
});
