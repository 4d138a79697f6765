// Archived logs, by design rather than by timing: the writer reads chunk rows only as the blob store
// consumes them (a few rows at a time), the reader asks for the byte range of the blocks a page
// needs, and the cache never holds more bytes than its budget.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { loadLogPipeline } from "../../wasm/index.ts";
import type { LogLine } from "../../wasm/types.ts";
import { createFsBlobStore } from "../blobs/fs.ts";
import type { BlobStore, ByteRange } from "../blobs/types.ts";
import { jobs, logChunks } from "../db/schema.ts";
import {
  ARCHIVE_ROWS_PER_READ,
  ArchiveReader,
  archiveIndexKey,
  archiveKey,
  ByteLru,
  writeArchive,
} from "./archive.ts";
import type { LogPipelineFactory } from "./service.ts";
import { logServiceFixture, removeLogFixtures } from "./testing.ts";

let factory: LogPipelineFactory;
beforeAll(async () => {
  factory = await loadLogPipeline();
});
afterAll(removeLogFixtures);
const enc = new TextEncoder();

/** An fs blob store that records the ranges read and lets a test drive `putStream`'s reads. */
function recordingStore(consume?: (body: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>) {
  const inner = createFsBlobStore(mkdtempSync(join(tmpdir(), "cairn-archive-")));
  const ranges: (ByteRange | undefined)[] = [];
  const store: BlobStore = {
    ...inner,
    stream: (key, range) => {
      if (key.endsWith(".ndjson")) ranges.push(range);
      return inner.stream(key, range);
    },
    putStream: (key, body, max, type) => inner.putStream(key, consume ? consume(body) : body, max, type),
  };
  return { store, ranges };
}

/** A job of `count` coloured lines pushed through the real ingest path, in 64 KiB uploads. */
async function loggedJob(blobs: BlobStore, count: number) {
  const fx = await logServiceFixture({ factory, blobs: () => blobs });
  const svc = fx.make();
  const body = enc.encode(
    Array.from({ length: count }, (_, i) => `\x1b[32mok\x1b[0m test ${i} ${"x".repeat(i % 50)}\n`).join(""),
  );
  for (let at = 0; at < body.length; at += 65536)
    await svc.append(fx.jobId, at, body.subarray(at, at + 65536));
  await svc.endSegment(fx.jobId);
  return { ...fx, svc };
}

describe("writing an archive", () => {
  test("reads chunk rows only as the blob store consumes them, a few rows a step", async () => {
    let pieces = 0;
    let stop: () => Promise<void> = async () => {};
    // The store reads one piece, then (while it "uploads") every chunk row is removed.
    const { store } = recordingStore((body) => {
      const reader = body.getReader();
      return new ReadableStream({
        async pull(c) {
          if (pieces === 1) await stop();
          const { done, value } = await reader.read();
          if (done) c.close();
          else {
            pieces++;
            // A piece is whole records, at most ARCHIVE_ROWS_PER_READ of them.
            const records = value.filter((b) => b === 10).length;
            expect(records).toBeGreaterThan(0);
            expect(records).toBeLessThanOrEqual(ARCHIVE_ROWS_PER_READ);
            c.enqueue(value);
          }
        },
      });
    });
    const { db, jobId } = await loggedJob(store, 30_000);
    const rows = (await db.select().from(logChunks).where(eq(logChunks.jobId, jobId))).length;
    expect(rows).toBeGreaterThan(3 * ARCHIVE_ROWS_PER_READ);
    stop = async () => {
      await db.delete(logChunks).where(eq(logChunks.jobId, jobId));
    };
    const stats = await writeArchive(db, store, jobId);
    // Had the writer read ahead of the store, the archive would hold rows read before the delete.
    expect(stats.blocks).toBe(ARCHIVE_ROWS_PER_READ);
    expect(pieces).toBe(1);
  });

  test("holds at most one step of rows, whatever the log's size", async () => {
    const { store } = recordingStore();
    const { db, jobId } = await loggedJob(store, 30_000);
    const rows = await db.select().from(logChunks).where(eq(logChunks.jobId, jobId));
    const largestStep = Math.max(...rows.map((r) => r.body.length)) * ARCHIVE_ROWS_PER_READ * 3;
    const total = rows.reduce((n, r) => n + r.body.length, 0);
    const stats = await writeArchive(db, store, jobId);
    expect(stats.blocks).toBe(rows.length);
    expect(stats.peakHeldBytes).toBeLessThanOrEqual(largestStep);
    expect(stats.peakHeldBytes).toBeLessThan(total);
  });
});

describe("reading an archive", () => {
  test("a page is one ranged read of the blocks holding it; the cache stays in its byte budget", async () => {
    const { store, ranges } = recordingStore();
    const { db, jobId, svc } = await loggedJob(store, 30_000);
    const before = await svc.readLines(jobId, 0, 1_000_000);
    await svc.finish(jobId, "success");
    await svc.archived(jobId);
    expect((await db.query.jobs.findFirst({ where: eq(jobs.id, jobId) }))?.logArchivedAt).toBeGreaterThan(0);

    const budget = 256 * 1024;
    const reader = new ArchiveReader(store, budget);
    const ix = await reader.index(jobId);
    const size = ix.offset[ix.offset.length - 1];
    expect(ix.first.length - 1).toBeGreaterThan(20);

    ranges.length = 0;
    expect(await reader.readLines(jobId, 17_000, 10)).toEqual(before.slice(17_000, 17_010));
    expect(ranges).toHaveLength(1);
    expect(ranges[0]!.start).toBeGreaterThan(0);
    expect(ranges[0]!.end! - ranges[0]!.start).toBeLessThan(size / 10);
    // Again: from the cache, no read.
    expect(await reader.readLines(jobId, 17_000, 10)).toEqual(before.slice(17_000, 17_010));
    expect(ranges).toHaveLength(1);

    // The whole log, a block at a time: equal to what was read before archiving, cache in budget.
    const all: LogLine[] = [];
    for await (const page of reader.pages(jobId, 0)) {
      expect(reader.cache.bytes).toBeLessThanOrEqual(budget);
      all.push(...page);
    }
    expect(all).toEqual(before);
    expect(size).toBeGreaterThan(budget * 4);
    expect(await reader.readLines(jobId, 29_990, 100)).toEqual(before.slice(29_990));
    expect(await reader.readLines(jobId, 30_000, 100)).toEqual([]);
  });

  test("archives of the old format (one line a record, no index) read the same", async () => {
    const { store, ranges } = recordingStore();
    const { jobId, svc } = await loggedJob(store, 2_500);
    const before = await svc.readLines(jobId, 0, 1_000_000);
    await svc.finish(jobId, "success");
    await svc.archived(jobId);
    // Rewrite it as the old writer did: records joined by newlines, no index.
    await store.put(archiveKey(jobId), before.map((l) => JSON.stringify(l)).join("\n"));
    await store.delete(archiveIndexKey(jobId));
    const reader = new ArchiveReader(store, 1024 * 1024);
    for (const after of [0, 999, 1000, 1001, 2499, 2500])
      expect(await reader.readLines(jobId, after, 1_200)).toEqual(before.slice(after, after + 1_200));
    // A fresh reader: one scan for the index, then a ranged read of the block.
    ranges.length = 0;
    expect(await new ArchiveReader(store).readLines(jobId, 2_100, 5)).toEqual(before.slice(2_100, 2_105));
    expect(ranges).toHaveLength(2);
    expect(ranges[1]!.start).toBeGreaterThan(0);
  });
});

test("a log whose archive a stopped server left undone is archived at the next start", async () => {
  const { store } = recordingStore();
  const { db, jobId, svc, make } = await loggedJob(store, 2_000);
  const before = await svc.readLines(jobId, 0, 1_000_000);
  await db.update(jobs).set({ status: "success" }).where(eq(jobs.id, jobId));
  // The server stopped before finishing the log: no archive, rows still there.
  const restarted = make();
  expect(await restarted.archiveEnded()).toBe(1);
  const row = await db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
  expect(row?.logArchivedAt).toBeGreaterThan(0);
  expect(await db.select().from(logChunks).where(eq(logChunks.jobId, jobId))).toEqual([]);
  expect(await restarted.readLines(jobId, 0, 1_000_000)).toEqual(before);
  expect(await make().archiveEnded()).toBe(0);
});

test("the byte-bounded LRU evicts the least recently used and never exceeds its budget", () => {
  const lru = new ByteLru<string>(100);
  lru.set("a", "a", 40);
  lru.set("b", "b", 40);
  lru.get("a");
  lru.set("c", "c", 40);
  expect(lru.get("b")).toBeUndefined();
  expect(lru.get("a")).toBe("a");
  expect(lru.bytes).toBe(80);
  lru.set("huge", "h", 101);
  expect(lru.get("huge")).toBeUndefined();
  expect(lru.bytes).toBe(80);
});
