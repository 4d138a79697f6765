// Downloading an archived log holds a fixed budget by design, whatever the log's size: proven by the
// bytes the blob store has handed out when the client has read so far, not by timing or by RSS.
// The store hands an archive out in PIECE-byte pieces and counts them; a download must have taken
// no more than the blocks whose lines the client already has, plus less than one piece. Both stores:
// the filesystem on a temp dir, S3 against s3rver on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { startS3rver, type TestS3 } from "../../tests/support/s3rver.ts";
import { loadLogPipeline, renderHtml, renderText } from "../../wasm/index.ts";
import type { LogLine } from "../../wasm/types.ts";
import { createFsBlobStore } from "../blobs/fs.ts";
import { createS3BlobStore } from "../blobs/s3.ts";
import type { BlobStore } from "../blobs/types.ts";
import { renderAnsi } from "./ansi.ts";
import type { ArchiveIndex } from "./archive.ts";
import { type DownloadFormat, downloadLog } from "./download.ts";
import type { LogService } from "./service.ts";
import { logServiceFixture, removeLogFixtures } from "./testing.ts";

const PIECE = 4096;
/** After every microtask queued so far (and any they queue) has run. */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));
const LINES = 30_000;

/** A blob store whose archive streams hand out at most PIECE bytes per read, counted. */
function countingStore(inner: BlobStore) {
  const handedOut = { bytes: 0, cancelled: 0, inFlight: 0 };
  const store: BlobStore = {
    ...inner,
    async stream(key, range) {
      const stream = await inner.stream(key, range);
      if (!stream || !key.endsWith(".ndjson")) return stream;
      const reader = stream.getReader();
      let held: Uint8Array = new Uint8Array(0);
      return new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            if (held.length === 0) {
              handedOut.inFlight++;
              const { done, value } = await reader.read().finally(() => handedOut.inFlight--);
              if (done) return controller.close();
              held = value;
            }
            const piece = held.subarray(0, PIECE);
            held = held.subarray(piece.length);
            handedOut.bytes += piece.length;
            controller.enqueue(piece);
          },
          cancel: (reason) => {
            handedOut.cancelled++;
            return reader.cancel(reason);
          },
        },
        { highWaterMark: 0 },
      );
    },
  };
  return { store, handedOut };
}

const rendered: Record<DownloadFormat, (lines: LogLine[]) => string> = {
  text: renderText,
  html: renderHtml,
  raw: renderAnsi,
};

let s3: TestS3;
const dirs: string[] = [];
beforeAll(async () => {
  s3 = await startS3rver();
});
afterAll(removeLogFixtures);
afterAll(async () => {
  await s3.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const stores: [string, (dir: string) => BlobStore][] = [
  ["filesystem", (dir) => createFsBlobStore(join(dir, "blobs"))],
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
];

describe.each(stores)("an archived log in the %s blob store", (_name, makeStore) => {
  let handedOut: { bytes: number; cancelled: number; inFlight: number };
  let make: () => LogService;
  let jobId: string;
  let before: LogLine[];
  let ix: ArchiveIndex;
  /** Blocks in the archive, and the most bytes the cache may keep after a read: the index and one block. */
  let blocks: number;
  let oneBlockCached: number;

  beforeAll(async () => {
    const fx = await logServiceFixture({
      factory: await loadLogPipeline(),
      blobs: (dir) => {
        dirs.push(dir);
        const counting = countingStore(makeStore(dir));
        handedOut = counting.handedOut;
        return counting.store;
      },
    });
    ({ make, jobId } = fx);
    const svc = make();
    const body = new TextEncoder().encode(
      Array.from({ length: LINES }, (_, i) => `\x1b[32mok\x1b[0m test ${i} ${"x".repeat(i % 50)}\n`).join(""),
    );
    for (let at = 0; at < body.length; at += 65536)
      await svc.append(jobId, at, body.subarray(at, at + 65536));
    await svc.endSegment(jobId);
    before = await svc.readLines(jobId, 0, LINES + 1);
    expect(before).toHaveLength(LINES);
    await svc.finish(jobId, "success");
    await svc.archived(jobId);
    ix = await make().archives.index(jobId);
    blocks = ix.first.length - 1;
    const sizes = Array.from({ length: blocks }, (_, k) => ix.offset[k + 1] - ix.offset[k]);
    // A block's text costs at most two bytes per archive byte (UTF-16).
    oneBlockCached = ix.first.byteLength + ix.offset.byteLength + 2 * Math.max(...sizes);
    expect(blocks).toBeGreaterThan(20);
  }, 120_000);

  describe("downloaded", () => {
    test.each(["text", "html", "raw"] as const)(
      "as %s reads the archive only as the client reads it, and leaves one block in the cache",
      async (format) => {
        const svc = make();
        handedOut.bytes = 0;
        const reader = downloadLog(svc, jobId, 0, format).getReader();
        // Nothing is read before the client asks.
        expect(handedOut.bytes).toBe(0);
        const decoder = new TextDecoder();
        let out = "";
        let pieces = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          pieces++;
          out += decoder.decode(value, { stream: true });
          // Whatever a read-ahead would start runs in microtasks up to the store's read: settled by
          // the next macrotask, it would be seen here as a store read in flight.
          await settled();
          expect(handedOut.inFlight).toBe(0);
          // A piece is one block's page: the client has `pieces` blocks; the store gave no more.
          expect(handedOut.bytes).toBeLessThan(ix.offset[Math.min(pieces, blocks)] + PIECE);
        }
        expect(handedOut.bytes).toBe(ix.offset[blocks]);
        expect(out).toBe(rendered[format](before));
        // The blocks it passed through were not cached: a download leaves the cache as it found it.
        expect(svc.archives.cache.bytes).toBeLessThanOrEqual(oneBlockCached);
      },
    );

    test("a client that stops reading stops the reads; cancelling ends them", async () => {
      const svc = make();
      handedOut.bytes = 0;
      const reader = downloadLog(svc, jobId, 0, "text").getReader();
      for (let i = 0; i < 3; i++) await reader.read();
      await settled();
      expect(handedOut.inFlight).toBe(0);
      const after3 = handedOut.bytes;
      expect(after3).toBeLessThan(ix.offset[3] + PIECE);
      handedOut.cancelled = 0;
      await reader.cancel();
      expect(handedOut.cancelled).toBe(1);
      expect(handedOut.bytes).toBe(after3);
    });

    test("from a line in the middle reads from the block holding it", async () => {
      const svc = make();
      handedOut.bytes = 0;
      const from = 20_500;
      const text = await new Response(downloadLog(svc, jobId, from, "text")).text();
      expect(text).toBe(renderText(before.slice(from)));
      let k = 0;
      while (ix.first[k + 1] <= from + 1) k++;
      expect(handedOut.bytes).toBe(ix.offset[blocks] - ix.offset[k]);
    });
  });

  test("paging an archived log as the JSON API does reads only each page's blocks, the cache in its budget", async () => {
    const svc = make();
    let k = 0;
    for (let after = 0; after < LINES; after += 1000) {
      handedOut.bytes = 0;
      const page = await svc.readLines(jobId, after, 1000);
      expect(page).toEqual(before.slice(after, after + 1000));
      // The blocks holding lines after+1 … after+1000; the first may come from the cache.
      while (ix.first[k + 1] <= after + 1) k++;
      let last = k;
      while (last + 1 < blocks && ix.first[last + 1] <= after + 1000) last++;
      expect(handedOut.bytes).toBeLessThanOrEqual(ix.offset[last + 1] - ix.offset[k]);
      // Each page keeps the block it ends in (the next page starts there), within the cache's budget.
      expect(svc.archives.cache.bytes).toBeLessThanOrEqual(svc.archives.cache.budget);
    }
  });
});
