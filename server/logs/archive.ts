// A finished job's log in the blob store, written and read in pieces so that neither depends on the
// log's size. The object is NDJSON: one record per stored chunk, its lines as a JSON array (what
// the chunk row held, so archiving parses nothing). An index object beside it gives each record's
// first line and byte offset, so a page of lines is one ranged read. Archives written before the
// index existed hold one line object per record and have no index: theirs is built by one
// streamed scan that only counts newlines (record k is line k+1).
// Parsed lines are never cached; record texts are, in a cache bounded in bytes, only the last of
// each read (where a paged reader's next page starts): a download leaves the cache as it was.
import { and, asc, eq, gt } from "drizzle-orm";
import type { LogLine } from "../../wasm/types.ts";
import type { BlobStore } from "../blobs/types.ts";
import type { Db } from "../db/client.ts";
import { logChunks } from "../db/schema.ts";

export const archiveKey = (jobId: string) => `logs/${jobId}.ndjson`;
export const archiveIndexKey = (jobId: string) => `logs/${jobId}.idx`;

/** Chunk rows read per step while archiving: a row is at most ~1 MB of JSON (1,000 lines, 64 KiB of text). */
export const ARCHIVE_ROWS_PER_READ = 8;
/** Lines per block when indexing an archive of the old one-line-per-record format. */
const OLD_FORMAT_BLOCK_LINES = 1000;
/** Default byte budget of the archive cache (indexes and record texts of recently read archives). */
export const ARCHIVE_CACHE_BYTES = 32 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Block k of an archive: lines [first[k], first[k+1]) at bytes [offset[k], offset[k+1]).
 * The last entry is the end: the line after the last, and the object's size.
 */
export interface ArchiveIndex {
  first: Float64Array;
  offset: Float64Array;
  /** Whether a block is a chunk (a JSON array of lines) or lines of the old format, one object each. */
  chunked: boolean;
}

const indexBytes = (ix: ArchiveIndex) => ix.first.byteLength + ix.offset.byteLength;

/** What `writeArchive` did: bytes and blocks written, and the most bytes it held at once. */
export interface ArchiveStats {
  bytes: number;
  blocks: number;
  peakHeldBytes: number;
}

/**
 * Streams the job's chunk rows into the archive object, ARCHIVE_ROWS_PER_READ rows at a time, read
 * only when the blob store asks for more; then stores the index. The rows stay (the caller removes
 * them once the job row says archived).
 */
export async function writeArchive(db: Db, blobs: BlobStore, jobId: string): Promise<ArchiveStats> {
  const first: number[] = [];
  const offset: number[] = [];
  let bytes = 0;
  let after = 0;
  let peakHeldBytes = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const rows = await db
          .select({ first: logChunks.firstLine, last: logChunks.lastLine, body: logChunks.body })
          .from(logChunks)
          .where(and(eq(logChunks.jobId, jobId), gt(logChunks.firstLine, after)))
          .orderBy(asc(logChunks.firstLine))
          .limit(ARCHIVE_ROWS_PER_READ);
        if (rows.length === 0) {
          controller.close();
          return;
        }
        const parts = rows.map((r) => encoder.encode(`${r.body}\n`));
        const size = parts.reduce((n, p) => n + p.length, 0);
        const out = new Uint8Array(size);
        let at = 0;
        rows.forEach((r, i) => {
          first.push(r.first);
          offset.push(bytes + at);
          out.set(parts[i], at);
          at += parts[i].length;
        });
        bytes += size;
        after = rows[rows.length - 1].last;
        peakHeldBytes = Math.max(peakHeldBytes, size + rows.reduce((n, r) => n + r.body.length * 2, 0));
        controller.enqueue(out);
      },
    },
    { highWaterMark: 0 },
  );
  await blobs.putStream(archiveKey(jobId), body, Number.MAX_SAFE_INTEGER, "application/x-ndjson");
  first.push(after + 1);
  offset.push(bytes);
  await blobs.put(archiveIndexKey(jobId), packIndex(first, offset), "application/octet-stream");
  return { bytes, blocks: first.length - 1, peakHeldBytes };
}

/** The index object: entry count (u32), then first lines and offsets as float64 (little-endian). */
function packIndex(first: number[], offset: number[]): Uint8Array {
  const out = new Uint8Array(8 + first.length * 16);
  const view = new DataView(out.buffer);
  view.setUint32(0, first.length, true);
  first.forEach((f, i) => {
    view.setFloat64(8 + i * 8, f, true);
    view.setFloat64(8 + first.length * 8 + i * 8, offset[i], true);
  });
  return out;
}

function unpackIndex(bytes: Uint8Array): ArchiveIndex {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(0, true);
  const first = new Float64Array(n);
  const offset = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    first[i] = view.getFloat64(8 + i * 8, true);
    offset[i] = view.getFloat64(8 + n * 8 + i * 8, true);
  }
  return { first, offset, chunked: true };
}

/** A least-recently-used map bounded by the bytes its values take. */
export class ByteLru<V> {
  private readonly items = new Map<string, { value: V; bytes: number }>();
  private used = 0;

  constructor(readonly budget: number) {}

  get(key: string): V | undefined {
    const item = this.items.get(key);
    if (!item) return undefined;
    this.items.delete(key);
    this.items.set(key, item);
    return item.value;
  }

  /** Keeps `value` unless it alone is over budget; evicts the least recently used until it fits. */
  set(key: string, value: V, bytes: number): void {
    this.delete(key);
    if (bytes > this.budget) return;
    this.items.set(key, { value, bytes });
    this.used += bytes;
    for (const [k, item] of this.items) {
      if (this.used <= this.budget) break;
      this.items.delete(k);
      this.used -= item.bytes;
    }
  }

  delete(key: string): void {
    const item = this.items.get(key);
    if (!item) return;
    this.items.delete(key);
    this.used -= item.bytes;
  }

  /** Bytes held now; never above the budget. */
  get bytes(): number {
    return this.used;
  }
}

/** Reads archived logs a block at a time, through one cache bounded in bytes. */
export class ArchiveReader {
  readonly cache: ByteLru<ArchiveIndex | string>;

  constructor(
    private readonly blobs: BlobStore,
    cacheBytes = ARCHIVE_CACHE_BYTES,
  ) {
    this.cache = new ByteLru(cacheBytes);
  }

  private missing(jobId: string): Error {
    return new Error(`the archived log of job ${jobId} is missing from the ${this.blobs.kind} blob store`);
  }

  async index(jobId: string): Promise<ArchiveIndex> {
    const cached = this.cache.get(`i:${jobId}`) as ArchiveIndex | undefined;
    if (cached) return cached;
    const packed = await this.blobs.get(archiveIndexKey(jobId));
    const ix = packed ? unpackIndex(packed) : await this.scanOldFormat(jobId);
    this.cache.set(`i:${jobId}`, ix, indexBytes(ix));
    return ix;
  }

  /** The index of an archive without one: a streamed pass counting newlines. */
  private async scanOldFormat(jobId: string): Promise<ArchiveIndex> {
    const stream = await this.blobs.stream(archiveKey(jobId));
    if (!stream) throw this.missing(jobId);
    const first = [1];
    const offset = [0];
    let at = 0;
    let records = 0;
    let lastByte = -1;
    for await (const piece of stream) {
      for (let i = piece.indexOf(10); i >= 0; i = piece.indexOf(10, i + 1)) {
        records++;
        if (records % OLD_FORMAT_BLOCK_LINES === 0) {
          first.push(records + 1);
          offset.push(at + i + 1);
        }
      }
      at += piece.length;
      if (piece.length) lastByte = piece[piece.length - 1];
    }
    // The old writer joined records with "\n", so the last one has none after it.
    const lines = at === 0 ? 0 : records + (lastByte === 10 ? 0 : 1);
    if (offset[offset.length - 1] === at && first.length > 1) {
      first.pop();
      offset.pop();
    }
    first.push(lines + 1);
    offset.push(at);
    return { first: Float64Array.from(first), offset: Float64Array.from(offset), chunked: false };
  }

  /** The block holding line `line` (the last block if past the end). */
  private blockOf(ix: ArchiveIndex, line: number): number {
    let lo = 0;
    let hi = ix.first.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ix.first[mid] <= line) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Texts of blocks [from, to], from the cache or one ranged read over the ones it lacks. */
  private async *blocks(jobId: string, ix: ArchiveIndex, from: number, to: number): AsyncGenerator<string> {
    let k = from;
    while (k <= to) {
      const cached = this.cache.get(`b:${jobId}:${k}`) as string | undefined;
      if (cached !== undefined) {
        yield cached;
        k++;
        continue;
      }
      // Read from block k to `to` in one stream, cutting it at the index's offsets.
      const stream = await this.blobs.stream(archiveKey(jobId), {
        start: ix.offset[k],
        end: ix.offset[to + 1],
      });
      if (!stream) throw this.missing(jobId);
      let held: Uint8Array[] = [];
      let heldBytes = 0;
      const reader = stream.getReader();
      try {
        while (k <= to) {
          const want = ix.offset[k + 1] - ix.offset[k];
          while (heldBytes < want) {
            const { done, value } = await reader.read();
            if (done) throw new Error(`the archived log of job ${jobId} is shorter than its index says`);
            held.push(value);
            heldBytes += value.length;
          }
          const all = held.length === 1 ? held[0] : concat(held, heldBytes);
          const text = decoder.decode(all.subarray(0, want));
          held = want < all.length ? [all.subarray(want)] : [];
          heldBytes -= want;
          // Only the block a read ends in is kept: the next page of a paged read starts there. The
          // blocks it passes through are read once (a download passes thousands); cached, they would
          // only churn the cache into garbage the collector lets pile up far past the cache's budget.
          if (k === to) this.cache.set(`b:${jobId}:${k}`, text, text.length * 2);
          k++;
          yield text;
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
    }
  }

  /** Lines numbered after `after`, at most `limit`, in order; reads only the blocks that hold them. */
  async readLines(jobId: string, after: number, limit: number): Promise<LogLine[]> {
    const out: LogLine[] = [];
    for await (const page of this.pages(jobId, after, limit)) {
      for (const line of page) {
        out.push(line);
        if (out.length >= limit) return out;
      }
    }
    return out;
  }

  /**
   * The lines after `after` (up to `limit` of them, give or take a block) a block at a time, from
   * one ranged read: a whole archived log streams without being held.
   */
  async *pages(jobId: string, after: number, limit = Number.MAX_SAFE_INTEGER): AsyncGenerator<LogLine[]> {
    const ix = await this.index(jobId);
    const end = ix.first[ix.first.length - 1];
    if (after + 1 >= end) return;
    const from = this.blockOf(ix, after + 1);
    const to = this.blockOf(ix, Math.min(after + limit, end - 1));
    for await (const text of this.blocks(jobId, ix, from, to)) {
      const lines: LogLine[] = [];
      for (const record of text.split("\n")) {
        if (!record) continue;
        if (ix.chunked) {
          for (const line of JSON.parse(record) as LogLine[]) if (line.n > after) lines.push(line);
        } else {
          const line = JSON.parse(record) as LogLine;
          if (line.n > after) lines.push(line);
        }
      }
      if (lines.length) yield lines;
    }
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
