// Ingest backpressure over real HTTP, by events rather than timings: while the server's log commits
// are held (a disk that fell behind), an upload past the ingest budget is refused with 503 and a
// wait before its body is read; the builder's uploader waits as told, keeps what the job prints in
// bounded memory and spills the rest to disk; viewers keep getting lines; once commits resume,
// everything arrives exactly once.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServerClient } from "../builder/client.ts";
import { ApiCallError } from "../builder/retryable.ts";
import { LogUploader, leaseTwoJobs } from "./support/builder-sim.ts";
import { startTestServer, type TestServer } from "./support/server.ts";
import { readSse } from "./support/sse.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

/** Holds the log service's group commits (libSQL batches) until released. */
function holdCommits(server: TestServer) {
  const client = server.deps.db.$client;
  const batch = client.batch.bind(client);
  let release = () => {};
  const held = new Promise<void>((r) => (release = r));
  let reached = () => {};
  const arrival = new Promise<void>((r) => (reached = r));
  client.batch = (async (...args: Parameters<typeof batch>) => {
    reached();
    await held;
    return batch(...args);
  }) as typeof client.batch;
  return {
    reached: () => arrival,
    release() {
      client.batch = batch;
      release();
    },
  };
}

const twoJobs = () => leaseTwoJobs(server, "bp");

const numbered = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => `line ${from + i} ${"x".repeat(60)}\n`).join("");

test("behind on commits: uploads past the budget are told to wait, the builder spills to disk, viewers stay live", async () => {
  const { builder, a, b } = await twoJobs();
  const logs = server.deps.logs;
  const budget = logs.ingestBudget;
  const gate = holdCommits(server);
  try {
    // Job a's viewer is following before anything is written.
    const viewerA = (async () => {
      const got: string[] = [];
      for await (const ev of readSse(`${server.url}/api/v1/jobs/${a}/log/stream`, {
        headers: { authorization: `Bearer ${server.token}` },
      })) {
        if (ev.event === "end") return got;
        got.push(ev.data);
      }
      return got;
    })();

    // Job a uploads 200 KiB: admitted, its commit held.
    const upA = new LogUploader(builder, a);
    upA.write(numbered(1, 3000));
    await gate.reached();
    expect(logs.admitted).toBeGreaterThan(0);
    // The budget is what a holds now (its upload and its output, ~3× it): nothing more fits until
    // a's commit is through (an upload's output counts: server/logs/ingest-budget.test.ts).
    logs.ingestBudget = logs.admitted + logs.held;

    // Job b's upload no longer fits: refused before its body is read, with a wait to take.
    const refused = await builder.log(b, 0, new TextEncoder().encode(numbered(1, 3000))).catch((e) => e);
    expect(refused).toBeInstanceOf(ApiCallError);
    expect(refused.status).toBe(503);
    expect(refused.code).toBe("ingest_busy");
    expect(refused.retryAfterMs).toBeGreaterThanOrEqual(100);

    // Job b's uploader keeps printing: at most 64 KiB stays in memory, the rest spills to disk,
    // while each of its uploads is refused and waits as told.
    const spillDir = mkdtempSync(join(tmpdir(), "cairn-spill-"));
    const upB = new LogUploader(builder, b, undefined, { memoryBytes: 64 * 1024, spillDir });
    const refusals = countRefusals(builder);
    let text = "";
    for (let i = 0; i < 40; i++) {
      const piece = numbered(1 + i * 100, 100);
      text += piece;
      upB.write(piece);
      expect(upB.memoryHeld).toBeLessThanOrEqual(64 * 1024);
    }
    expect(upB.spilled).toBeGreaterThan(0);
    // The spill file is unlinked as soon as it is open: nothing is left behind on disk.
    expect(readdirSync(spillDir)).toEqual([]);
    await refusals.atLeast(1);

    // The viewer of a already has its lines, though none is committed.
    const firstLines = await readUntil(a, 3000);
    expect(firstLines[2999]).toStartWith("line 3000 ");

    gate.release();
    await upA.drain();
    await upB.drain();
    expect(upB.spilled).toBe(0);
    expect(upB.acknowledged).toBe(new TextEncoder().encode(text).length);
    expect(logs.admitted).toBe(0);
    for (const [job, up] of [
      [a, upA],
      [b, upB],
    ] as const) {
      await builder.finish(job, { status: "success", unsandboxed: true, log_bytes: up.acknowledged });
    }
    expect((await viewerA).length).toBe(3000);
    const res = await server.api(`/api/v1/jobs/${b}/log?format=text`);
    expect(await res.text()).toBe(text);
  } finally {
    gate.release();
    logs.ingestBudget = budget;
  }
});

test("output far denser than its bytes: after a short acknowledgement the uploader sends about what the server took, not the whole rest again", async () => {
  const { builder, a } = await twoJobs();
  // 1 MiB of nothing but newlines: ~70 MB of chunk JSON and SSE, taken a piece (64 KiB) an upload.
  const log = new Uint8Array(1024 * 1024).fill(0x0a);
  const log_ = builder.log.bind(builder);
  const sent: { at: number; bytes: number; taken: number }[] = [];
  builder.log = async (jobId, at, body) => {
    const r = await log_(jobId, at, body);
    sent.push({ at, bytes: body.length, taken: r.offset - at });
    return r;
  };
  const up = new LogUploader(builder, a);
  up.write(log);
  await up.drain();
  expect(up.acknowledged).toBe(log.length);
  // Cut short by the server (UPLOAD_OUTPUT_BYTES), many times.
  expect(sent.filter((s) => s.taken < s.bytes).length).toBeGreaterThan(4);
  // Resending the whole rest after each short acknowledgement sent ~8× the log. Now the first upload
  // (1 MiB), then about what the server takes (64 KiB, trying 128 KiB every other time).
  const total = sent.reduce((n, s) => n + s.bytes, 0);
  expect(total).toBeLessThanOrEqual(sent[0].bytes + 1.5 * log.length);
  await builder.finish(a, { status: "success", unsandboxed: true, log_bytes: up.acknowledged });
  const res = await server.api(`/api/v1/jobs/${a}/log?format=text`);
  expect(await res.text()).toBe("\n".repeat(log.length));
});

/** Counts 503 refusals of the builder's log uploads (the calls are real; this only watches them). */
function countRefusals(builder: ServerClient) {
  const log = builder.log.bind(builder);
  let count = 0;
  let wake = () => {};
  builder.log = async (...args) => {
    try {
      return await log(...args);
    } catch (err) {
      if (err instanceof ApiCallError && err.status === 503) {
        count++;
        wake();
      }
      throw err;
    }
  };
  return {
    async atLeast(n: number) {
      while (count < n) await new Promise<void>((r) => (wake = r));
    },
  };
}

/** The job's lines over SSE until `n` have come (a fresh viewer: stored lines and the unsettled chunk). */
async function readUntil(jobId: string, n: number): Promise<string[]> {
  const got: string[] = [];
  const abort = new AbortController();
  try {
    for await (const ev of readSse(`${server.url}/api/v1/jobs/${jobId}/log/stream`, {
      headers: { authorization: `Bearer ${server.token}` },
      signal: abort.signal,
    })) {
      if (ev.event === "line") got.push(ev.data);
      if (got.length >= n) break;
    }
  } finally {
    abort.abort();
  }
  return got;
}
