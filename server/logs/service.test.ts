// The log service on a real libSQL file: offset-addressed ingest, recovery in a fresh service
// (a restarted server) from the sealed raw segment, and archiving to both blob stores.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { startS3rver, type TestS3 } from "../../tests/support/s3rver.ts";
import { loadLogPipeline } from "../../wasm/index.ts";
import { createFsBlobStore } from "../blobs/fs.ts";
import { createS3BlobStore } from "../blobs/s3.ts";
import type { BlobStore } from "../blobs/types.ts";
import type { Db } from "../db/client.ts";
import { jobs, logChunks, logRaw } from "../db/schema.ts";
import type { LogPipelineFactory, LogService, LogServiceDeps } from "./service.ts";
import { logSse } from "./sse.ts";
import { logServiceFixture, removeLogFixtures, seedJob } from "./testing.ts";

let factory: LogPipelineFactory;
let s3: TestS3;
const enc = new TextEncoder();

beforeAll(async () => {
  factory = await loadLogPipeline();
  s3 = await startS3rver();
});
afterAll(removeLogFixtures);
afterAll(() => s3.stop());

const setup = (blobs: BlobStore, secrets: string[] = [], deps?: Partial<LogServiceDeps>) =>
  logServiceFixture({ factory, blobs: () => blobs, secrets, deps });

const texts = async (svc: LogService, jobId: string, after = 0) =>
  (await svc.readLines(jobId, after)).map((l) => l.text);

describe("ingest", () => {
  test("a full collection is asked for once per budget of bytes ingested, whatever the uploads' sizes", async () => {
    const budget = 64 * 1024;
    /** Log bytes ingested when each collection was asked for. */
    const asked: number[] = [];
    let offset = 0;
    let sending = 0;
    let clock = 0;
    const { make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))), [], {
      garbageBudgetBytes: budget,
      collectGarbage: () => asked.push(sending),
      now: () => clock,
    });
    const svc = make();
    const sizes = [10, 40_000, 70_000, 1, 65_535, 200_000, 12_345, 64 * 1024, 3, 150_000, 30_000, 30_000];
    for (const size of sizes) {
      clock += 1000; // uploads far apart: no collection is held back for the last one's length
      sending = offset + size;
      const r = await svc.append(jobId, offset, enc.encode(`${"x".repeat(size - 1)}\n`));
      expect(r).toEqual({ ok: true, offset: sending });
      // A re-sent range is no new garbage: it counts nothing.
      await svc.append(jobId, 0, enc.encode("x"));
      offset = sending;
    }
    // Between two collections: at least the budget, at most the budget and one upload.
    const gaps = asked.map((at, i) => at - (asked[i - 1] ?? 0));
    for (const [i, gap] of gaps.entries()) {
      expect(gap).toBeGreaterThanOrEqual(budget);
      expect(gap).toBeLessThan(budget + Math.max(...sizes));
      expect(asked[i]).toBeLessThanOrEqual(offset);
    }
    expect(offset - (asked.at(-1) ?? 0)).toBeLessThan(budget);
    expect(asked.length).toBeGreaterThanOrEqual(Math.floor(offset / (budget + Math.max(...sizes))));
  });

  test("collections are spaced by their length: at most 2 % of the time goes to them", async () => {
    // A clock the test moves: each upload 5 ms, each collection 10 ms (one that stops the server).
    let clock = 0;
    const collections: { start: number; end: number }[] = [];
    const { make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))), [], {
      garbageBudgetBytes: 1000,
      collectGarbage: () => {
        collections.push({ start: clock, end: clock + 10 });
        clock += 10;
      },
      now: () => clock,
    });
    const svc = make();
    let offset = 0;
    for (let i = 0; i < 300; i++) {
      clock += 5;
      offset = ((await svc.append(jobId, offset, enc.encode(`${"y".repeat(999)}\n`))) as { offset: number })
        .offset;
    }
    // Every upload passes the budget, but a collection waits 49× the last one's length after it.
    expect(collections.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < collections.length; i++)
      expect(collections[i].start - collections[i - 1].end).toBeGreaterThanOrEqual(49 * 10);
    const spent = collections.length * 10;
    expect(spent / clock).toBeLessThanOrEqual(0.02 + 10 / clock);
  });

  test("the heap watch looks at the heap the runtime reports (heapBytes): grown past the budget, it collects", async () => {
    let heap = 40 * 1024 * 1024;
    let collections = 0;
    const { make } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))), [], {
      collectGarbage: () => {
        collections++;
        heap = 40 * 1024 * 1024;
      },
      heapBytes: () => heap,
    });
    const stop = make().watchGarbage();
    try {
      // Its first look takes the level; then the runtime's heap grows 64 MiB (more than HEAP_BUDGET_BYTES).
      await Bun.sleep(250);
      expect(collections).toBe(0);
      heap += 64 * 1024 * 1024;
      for (let i = 0; i < 100 && collections === 0; i++) await Bun.sleep(20);
      expect(collections).toBe(1);
    } finally {
      stop();
    }
  });

  test("offsets: resending is a no-op, a gap is refused with the expected offset", async () => {
    const { make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))));
    const svc = make();
    expect(await svc.append(jobId, 0, enc.encode("one\ntw"))).toEqual({ ok: true, offset: 6 });
    expect(await svc.append(jobId, 0, enc.encode("one\ntw"))).toEqual({ ok: true, offset: 6 });
    expect(await svc.append(jobId, 10, enc.encode("x"))).toEqual({ ok: false, offset: 6 });
    // An overlapping resend appends only the new tail.
    expect(await svc.append(jobId, 4, enc.encode("two\nthree\n"))).toEqual({ ok: true, offset: 14 });
    expect(await texts(svc, jobId)).toEqual(["one", "two", "three"]);
    expect((await svc.readLines(jobId, 1)).map((l) => l.n)).toEqual([2, 3]);
  });

  test("a restarted service rebuilds the pipeline from the sealed raw segment: nothing lost or doubled", async () => {
    const { db, make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))), [
      "hunter2-secret",
    ]);
    const input = "line 1\n\x1b[31mred\x1b[0m 2\npartial hunt";
    let svc = make();
    await svc.append(jobId, 0, enc.encode(input));
    // "Crash": a new service on the same database, the old one's memory gone.
    svc = make();
    await svc.append(jobId, input.length, enc.encode("er2-secret end\nlast\n"));
    await svc.endSegment(jobId);
    expect(await texts(svc, jobId)).toEqual(["line 1", "red 2", "partial ******** end", "last"]);
    // The segment ended: its sealed raw bytes are gone; none were ever stored in plaintext.
    expect(await db.select().from(logRaw)).toEqual([]);
  });

  test("raw bytes are stored sealed, never in plaintext", async () => {
    const { db, make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))), [
      "s3cr3t-value",
    ]);
    const svc = make();
    await svc.append(jobId, 0, enc.encode("token=s3cr3t-val"));
    const rows = await db.select().from(logRaw);
    expect(rows.length).toBe(1);
    expect(rows[0].envelope).not.toContain("s3cr3t");
    expect(JSON.stringify(await db.select().from(logChunks))).not.toContain("s3cr3t");
  });

  test("an upload applies only while its builder holds the lease, even from a stale copy of the row", async () => {
    const { db, make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))));
    const other = await seedJob(db);
    await db.update(jobs).set({ builderId: "b1", status: "running" }).where(eq(jobs.id, jobId));
    await db.update(jobs).set({ builderId: "b1", status: "running" }).where(eq(jobs.id, other));
    const svc = make();
    // Two jobs in one group commit: one write refused must not take the other with it.
    const [a, b] = await Promise.all([
      svc.append(jobId, 0, enc.encode("one\n"), "b1"),
      svc.append(other, 0, enc.encode("uno\n"), "b1"),
    ]);
    expect([a, b]).toEqual([
      { ok: true, offset: 4 },
      { ok: true, offset: 4 },
    ]);
    await expect(svc.append(jobId, 4, enc.encode("x\n"), "b2")).rejects.toMatchObject({ code: "lease_lost" });
    // The lease moves behind the service's back (another server re-queued the job): its cached row
    // still names b1, and the conditional write refuses b1's upload, changing nothing.
    await db.update(jobs).set({ builderId: "b2" }).where(eq(jobs.id, jobId));
    const [stale, fine] = await Promise.allSettled([
      svc.append(jobId, 4, enc.encode("two\n"), "b1"),
      svc.append(other, 4, enc.encode("dos\n"), "b1"),
    ]);
    expect(stale.status).toBe("rejected");
    expect(fine).toEqual({ status: "fulfilled", value: { ok: true, offset: 8 } });
    expect(await texts(svc, jobId)).toEqual(["one"]);
    // Nor did it replace the job's resume point.
    expect((await db.select().from(logRaw).where(eq(logRaw.jobId, jobId))).map((r) => r.offset)).toEqual([4]);
    expect(await svc.append(jobId, 4, enc.encode("two\n"), "b2")).toEqual({ ok: true, offset: 8 });
    expect(await texts(svc, jobId)).toEqual(["one", "two"]);
    expect(await texts(svc, other)).toEqual(["uno", "dos"]);
    expect((await db.select().from(logRaw).where(eq(logRaw.jobId, jobId))).map((r) => r.offset)).toEqual([8]);
    // Lost behind the service's back (another server's sweep): the row still names b2, but a lost
    // job's builder holds no lease; its upload is refused now and, once the row is read again, by name.
    await db.update(jobs).set({ status: "lost" }).where(eq(jobs.id, jobId));
    await expect(svc.append(jobId, 8, enc.encode("late\n"), "b2")).rejects.toThrow();
    await expect(svc.append(jobId, 8, enc.encode("late\n"), "b2")).rejects.toMatchObject({
      code: "lease_lost",
    });
    expect(await texts(svc, jobId)).toEqual(["one", "two"]);
  });
});

/**
 * Holds the service's group commits (libSQL batches) until released, or fails the next one: the
 * window between a chunk's publication and its commit, which is otherwise a few milliseconds.
 */
function commitGate(db: Db) {
  const client = db.$client;
  const batch = client.batch.bind(client);
  let held: Promise<void> | null = null;
  let release = () => {};
  let abandon = (_: Error) => {};
  let arrived = () => {};
  let arrival = Promise.resolve();
  let failNext = false;
  client.batch = (async (...args: Parameters<typeof batch>) => {
    if (held) {
      arrived();
      await held;
    }
    if (failNext) {
      failNext = false;
      throw new Error("disk I/O error (test)");
    }
    return batch(...args);
  }) as typeof client.batch;
  return {
    hold() {
      held = new Promise((resolve, reject) => {
        release = resolve;
        abandon = reject;
      });
      held.catch(() => {});
      arrival = new Promise((r) => (arrived = r));
    },
    /** Resolves once a commit waits at the gate. */
    reached: () => arrival,
    release() {
      held = null;
      release();
    },
    /** The held commits never happen: the process died. */
    crash() {
      held = null;
      abandon(new Error("the server process died (test)"));
    },
    failNext() {
      failNext = true;
    },
  };
}

/** An SSE viewer of the job from line `after`, read as it arrives. */
function sseViewer(svc: LogService, db: Db, jobId: string, after = 0) {
  const reader = logSse(db, svc, jobId, after, { pingMs: 60_000 }).getReader();
  const decoder = new TextDecoder();
  let text = "";
  const lines = () =>
    [...text.matchAll(/event: line\ndata: (.*)\nid: (\d+)\n/g)].map((m) => `${m[2]} ${m[1]}`);
  return {
    lines,
    /** Reads until the viewer has `n` lines. */
    async until(n: number) {
      while (lines().length < n) {
        const r = await reader.read();
        if (r.done) throw new Error(`stream ended after ${lines().length} lines`);
        text += decoder.decode(r.value, { stream: true });
      }
      return lines();
    },
    /** Reads to the end; the text must end with the job's result. */
    async rest() {
      for (let r = await reader.read(); !r.done; r = await reader.read())
        text += decoder.decode(r.value, { stream: true });
      expect(text).toEndWith('event: end\ndata: {"status":"success"}\n\n');
      return lines();
    },
  };
}

describe("fanout before the commit", () => {
  test("viewers get a chunk before its commit, the ack waits for the commit, and a viewer connecting meanwhile misses nothing", async () => {
    const { db, make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))));
    const svc = make();
    const gate = commitGate(db);
    const early = sseViewer(svc, db, jobId);
    gate.hold();
    let acked = false;
    const ack = svc.append(jobId, 0, enc.encode("one\ntwo\n")).then((r) => {
      acked = true;
      return r;
    });
    expect(await early.until(2)).toEqual(["1 one", "2 two"]);
    // Not stored, not acknowledged: a viewer arriving now is handed the unsettled chunk, since its
    // read of storage cannot see it.
    expect(await texts(svc, jobId)).toEqual([]);
    const late = sseViewer(svc, db, jobId);
    expect(await late.until(2)).toEqual(["1 one", "2 two"]);
    await gate.reached();
    expect(acked).toBe(false);
    gate.release();
    expect(await ack).toEqual({ ok: true, offset: 8 });
    expect(await texts(svc, jobId)).toEqual(["one", "two"]);
    // One resuming from line 1 while the next write waits: line 2 from storage, 3 unsettled.
    gate.hold();
    const next = svc.append(jobId, 8, enc.encode("three\n"));
    const resumed = sseViewer(svc, db, jobId, 1);
    expect(await resumed.until(2)).toEqual(["2 two", "3 three"]);
    gate.release();
    await next;
    await svc.finish(jobId, "success");
    const all = ["1 one", "2 two", "3 three"];
    expect(await early.rest()).toEqual(all);
    expect(await late.rest()).toEqual(all);
    expect(await resumed.rest()).toEqual(["2 two", "3 three"]);
  });

  test("a crash before the commit: the viewer resumes past lines the restarted server makes again", async () => {
    const { db, make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))));
    const gate = commitGate(db);
    const svc = make();
    await svc.append(jobId, 0, enc.encode("one\n"));
    const viewer = sseViewer(svc, db, jobId);
    gate.hold();
    const lost = svc.append(jobId, 4, enc.encode("two\nthree\n"));
    expect(await viewer.until(3)).toEqual(["1 one", "2 two", "3 three"]);
    await gate.reached();
    gate.crash();
    await expect(lost).rejects.toThrow("died");
    // The restarted server has line 1; the browser reconnects with Last-Event-ID 3, the builder
    // re-sends from the acknowledged offset 4.
    const restarted = make();
    expect(await texts(restarted, jobId)).toEqual(["one"]);
    const resumed = sseViewer(restarted, db, jobId, 3);
    expect(await restarted.append(jobId, 4, enc.encode("two\nthree\nfour\n"))).toEqual({
      ok: true,
      offset: 19,
    });
    await restarted.finish(jobId, "success");
    expect(await resumed.rest()).toEqual(["4 four"]);
    expect(await texts(restarted, jobId)).toEqual(["one", "two", "three", "four"]);
  });

  test("a failed commit: the re-sent bytes make the same lines, which viewers that have them drop", async () => {
    const { db, make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))), [
      "hunter2-secret",
    ]);
    const svc = make();
    const gate = commitGate(db);
    const before = sseViewer(svc, db, jobId);
    await svc.append(jobId, 0, enc.encode("one\n"));
    gate.failNext();
    const upload = enc.encode("\x1b[31mtwo hunter2-secret\n\x1b[0mthree\npart");
    await expect(svc.append(jobId, 4, upload)).rejects.toThrow("disk I/O error");
    expect(await before.until(3)).toEqual(["1 one", "2 two ********", "3 three"]);
    // Arriving after the failure: the failed write's lines are not handed to it; they come again.
    const between = sseViewer(svc, db, jobId);
    expect(await between.until(1)).toEqual(["1 one"]);
    expect(await svc.append(jobId, 4, upload)).toEqual({ ok: true, offset: 4 + upload.length });
    expect(await svc.append(jobId, 4 + upload.length, enc.encode("ial\n"))).toEqual({
      ok: true,
      offset: 8 + upload.length,
    });
    await svc.finish(jobId, "success");
    const all = ["1 one", "2 two ********", "3 three", "4 partial"];
    expect(await before.rest()).toEqual(all);
    expect(await between.rest()).toEqual(all);
    expect(await texts(svc, jobId)).toEqual(["one", "two ********", "three", "partial"]);
  });
});

describe.each([
  ["filesystem", () => createFsBlobStore(mkdtempSync(join(tmpdir(), "b-")))],
  [
    "S3 (s3rver)",
    () =>
      createS3BlobStore({
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        prefix: `${crypto.randomUUID()}/`,
      }),
  ],
] as const)("archive to the %s store", (_name, makeStore) => {
  test("reads the same before and after; the rows are gone", async () => {
    const blobs = makeStore();
    const { db, make, jobId } = await setup(blobs);
    const svc = make();
    const body = Array.from({ length: 2500 }, (_, i) => `\x1b[1mline\x1b[0m ${i}\n`).join("");
    for (let at = 0; at < body.length; at += 777)
      await svc.append(jobId, at, enc.encode(body.slice(at, at + 777)));
    const before = await svc.readLines(jobId, 0, 1_000_000);
    expect(before.length).toBe(2500);
    const page = await svc.readLines(jobId, 1200, 10);
    let ended: string | undefined;
    svc.hub.subscribe(jobId, {
      deliver: (e) => {
        if (e.kind === "end") ended = e.status;
      },
    });
    await svc.finish(jobId, "success");
    expect(ended).toBe("success");
    // Readable while the archive is written after finish, and after.
    expect(await svc.readLines(jobId, 1200, 10)).toEqual(page);
    await svc.archived(jobId);
    expect(await db.select().from(logChunks)).toEqual([]);
    expect(await blobs.has(`logs/${jobId}.ndjson`)).toBe(true);
    expect(await make().readLines(jobId, 0, 1_000_000)).toEqual(before);
    expect(await make().readLines(jobId, 1200, 10)).toEqual(page);
  });
});
