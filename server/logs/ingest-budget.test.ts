// The ingest budget in bytes of what is held: uploads admitted and the output (chunk JSON and SSE)
// of pushes not yet committed. An upload of nothing but empty lines makes ~70× its size of output,
// so it is stopped at the budget after a piece and acknowledged up to there; the builder sends the
// rest again. Real WASM pipeline, real libSQL file.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { pushChunksWhile } from "../../wasm/chunk-json.ts";
import { loadLogPipeline } from "../../wasm/index.ts";
import { PUSH_PIECE_BYTES } from "../../wasm/limits.ts";
import { createFsBlobStore } from "../blobs/fs.ts";
import { jobs } from "../db/schema.ts";
import { Busy } from "../errors.ts";
import { type LogPipelineFactory, type LogService, UPLOAD_OUTPUT_BYTES } from "./service.ts";
import { logServiceFixture, removeLogFixtures, seedJob } from "./testing.ts";

let factory: LogPipelineFactory;
beforeAll(async () => {
  factory = await loadLogPipeline();
});
afterAll(removeLogFixtures);

const UPLOAD = 512 * 1024;

/**
 * What the route and the builder do: admit, append, resend from the acknowledged offset; a refusal
 * (Busy) waits a moment and tries again. Returns how many uploads were acknowledged only in part.
 */
async function upload(svc: LogService, jobId: string, log: Uint8Array): Promise<number> {
  let acked = 0;
  let partial = 0;
  while (acked < log.length) {
    const body = log.subarray(acked, acked + UPLOAD);
    let r: Awaited<ReturnType<LogService["append"]>>;
    try {
      const done = svc.admit(body.length);
      try {
        r = await svc.append(jobId, acked, body);
      } finally {
        done();
      }
    } catch (err) {
      if (!(err instanceof Busy)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 2));
      continue;
    }
    expect(r.ok).toBe(true);
    expect(r.offset).toBeGreaterThan(acked);
    if (r.offset < acked + body.length) partial++;
    acked = r.offset;
  }
  return partial;
}

test("uploads of nothing but empty lines hold at most the budget and one piece's output; every line arrives once, in order", async () => {
  const { db, make, jobId } = await logServiceFixture({
    factory,
    blobs: () => createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))),
  });
  const ids = [jobId, await seedJob(db), await seedJob(db)];
  const budget = 1024 * 1024;
  const svc = make();
  svc.ingestBudget = budget;
  const log = new Uint8Array(3 * UPLOAD).fill(0x0a); // 1.5 MiB: 1,572,864 empty lines per job
  // One piece's output at the largest line numbers of the test (numbers grow the output).
  const piece = pushChunksWhile(
    factory.create({ firstLine: log.length }),
    log.subarray(0, PUSH_PIECE_BYTES),
    () => false,
  ).held;
  expect(piece).toBeGreaterThan(PUSH_PIECE_BYTES * 30);

  // Viewers see each job's lines as chunks: numbered on from the last, none twice, none missing.
  const seen = new Map(ids.map((id) => [id, 0]));
  const unsubscribe = ids.map((id) =>
    svc.hub.subscribe(id, {
      deliver: (e) => {
        if (e.kind !== "chunk") return;
        const last = seen.get(id)!;
        // A chunk is only published again after a failed commit; none fails here.
        expect(e.chunk.first).toBe(last + 1);
        seen.set(id, e.chunk.last);
      },
    }),
  );
  try {
    const partial = await Promise.all(ids.map((id) => upload(svc, id, log)));
    // Each upload's output passes the budget by far: each was cut and sent again.
    for (const n of partial) expect(n).toBeGreaterThan(0);
    expect(svc.inFlightPeak).toBeGreaterThan(budget);
    expect(svc.inFlightPeak).toBeLessThanOrEqual(budget + piece);
    expect(svc.admitted).toBe(0);
    expect(svc.held).toBe(0);
    for (const id of ids) {
      expect(seen.get(id)).toBe(log.length);
      const row = await db.query.jobs.findFirst({ where: eq(jobs.id, id) });
      expect(row).toMatchObject({ logBytes: log.length, logLines: log.length });
      // Stored: every line once, in order, empty.
      let n = 0;
      for await (const page of svc.pages(id, 0, 100_000))
        for (const line of page) {
          if (line.n !== n + 1 || line.text !== "") throw new Error(`line ${n + 1}: ${JSON.stringify(line)}`);
          n = line.n;
        }
      expect(n).toBe(log.length);
    }
  } finally {
    for (const off of unsubscribe) off();
  }
});

test("ordinary output is taken whole: its output stays far under the budget", async () => {
  const { make, jobId } = await logServiceFixture({
    factory,
    blobs: () => createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))),
  });
  const svc = make();
  const line = "ok 17 - server/logs/service.test.ts > ingest > an upload applies only once\n";
  const body = new TextEncoder().encode(line.repeat(Math.ceil((1024 * 1024) / line.length)));
  const done = svc.admit(body.length);
  try {
    expect(await svc.append(jobId, 0, body)).toEqual({ ok: true, offset: body.length });
  } finally {
    done();
  }
  expect(svc.inFlightPeak).toBeLessThan(svc.ingestBudget / 2);
  expect(svc.held).toBe(0);
});

test("one upload's output is bounded on its own: with the whole budget free, empty lines are cut at UPLOAD_OUTPUT_BYTES and a piece, and so is their live event", async () => {
  const { make, jobId } = await logServiceFixture({
    factory,
    blobs: () => createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))),
  });
  const svc = make();
  expect(svc.ingestBudget).toBeGreaterThan(3 * UPLOAD_OUTPUT_BYTES);
  const body = new Uint8Array(1024 * 1024).fill(0x0a);
  const piece = pushChunksWhile(
    factory.create({ firstLine: 1 }),
    body.subarray(0, PUSH_PIECE_BYTES),
    () => false,
  ).held;
  const events: number[] = [];
  const off = svc.hub.subscribe(jobId, {
    deliver: (e) => {
      if (e.kind === "chunk") events.push(e.bytes ?? 0);
    },
  });
  try {
    let acked = 0;
    for (let i = 0; i < 3; i++) {
      const done = svc.admit(body.length - acked);
      try {
        const r = await svc.append(jobId, acked, body.subarray(acked));
        // Cut short: a piece or so taken, not what the whole budget would hold (~4 pieces).
        expect(r.offset).toBeLessThan(body.length);
        expect(r.offset - acked).toBeLessThanOrEqual(
          Math.ceil(UPLOAD_OUTPUT_BYTES / piece) * PUSH_PIECE_BYTES,
        );
        acked = r.offset;
      } finally {
        done();
      }
    }
    expect(svc.inFlightPeak).toBeLessThanOrEqual(body.length + UPLOAD_OUTPUT_BYTES + piece);
    expect(events.length).toBe(3);
    for (const bytes of events) {
      expect(bytes).toBeGreaterThan(0);
      expect(bytes).toBeLessThanOrEqual(UPLOAD_OUTPUT_BYTES + piece);
    }
  } finally {
    off();
  }
});
