// A push's output as the server needs it, from a pipeline's JSON (pushJson/flushJson) without
// building line objects: each chunk's line numbers and its `lines` array as JSON text cut out of
// that output (what is stored), and one chunk for live viewers whose lines are parsed only if
// someone asks for them — the WASM pipeline also renders them as Server-Sent Events (pushLive), the
// bytes every SSE viewer of the job is sent. Parsing, re-serialising, rendering and encoding every
// line was a third of the server's time at 20 MB/s of ingest (docs/perf.md).
import type { LogChunk, LogLine, LogPipeline } from "./types.ts";

/** A chunk as stored: its first and last line, and its lines as JSON text. */
export interface StoredChunk {
  first: number;
  last: number;
  body: string;
}

export interface PushedChunks {
  chunks: StoredChunk[];
  /** All of the push's lines as one chunk for live viewers, and their SSE if rendered; null: none. */
  live: { chunk: LogChunk; sse?: Uint8Array } | null;
}

/** The pipelines that render SSE as well (the WASM one). */
interface LivePipeline extends LogPipeline {
  pushLive(bytes: Uint8Array): { json: Uint8Array; sse: Uint8Array };
}

const decoder = new TextDecoder();
const FIRST_KEY = '{"first":';
const LAST_KEY = ',"last":';
const LINES_KEY = ',"lines":';
const NEXT_CHUNK = ']},{"first":';

/**
 * Cuts `[{"first":F,"last":L,"lines":[…]},…]` as both pipelines write it (keys in that order; the
 * WASM module pads `last` with spaces). A quote inside a JSON string is always escaped, so the keys
 * and `]},{"first":` are found only where they are structure, never inside a line's text.
 */
export function cutChunks(json: Uint8Array): StoredChunk[] {
  const text = decoder.decode(json);
  const chunks: StoredChunk[] = [];
  for (let at = text.indexOf(FIRST_KEY); at >= 0; ) {
    const lastAt = text.indexOf(LAST_KEY, at);
    const linesAt = text.indexOf(LINES_KEY, lastAt);
    const start = linesAt + LINES_KEY.length;
    const next = text.indexOf(NEXT_CHUNK, start);
    const end = next >= 0 ? next + 1 : text.lastIndexOf("]}") + 1;
    chunks.push({
      first: Number(text.slice(at + FIRST_KEY.length, lastAt)),
      last: Number(text.slice(lastAt + LAST_KEY.length, linesAt)),
      body: text.slice(start, end),
    });
    at = next >= 0 ? next + 3 : -1;
  }
  return chunks;
}

/** Lines parsed from stored bodies the first time they are read. */
class LazyChunk implements LogChunk {
  private parsed: LogLine[] | undefined;

  constructor(
    readonly first: number,
    readonly last: number,
    private readonly bodies: string[],
  ) {}

  get lines(): LogLine[] {
    this.parsed ??=
      this.bodies.length === 1
        ? (JSON.parse(this.bodies[0]) as LogLine[])
        : this.bodies.flatMap((b) => JSON.parse(b) as LogLine[]);
    return this.parsed;
  }
}

function pushed(chunks: StoredChunk[], sse?: Uint8Array): PushedChunks {
  if (chunks.length === 0) return { chunks, live: null };
  const chunk = new LazyChunk(
    chunks[0].first,
    chunks[chunks.length - 1].last,
    chunks.map((c) => c.body),
  );
  return { chunks, live: { chunk, sse } };
}

const asStored = (chunks: LogChunk[]): StoredChunk[] =>
  chunks.map((c) => ({ first: c.first, last: c.last, body: JSON.stringify(c.lines) }));

/** `pipeline.push(bytes)` as stored chunks and a live chunk. */
export function pushChunks(pipeline: LogPipeline, bytes: Uint8Array): PushedChunks {
  if ("pushLive" in pipeline) {
    const { json, sse } = (pipeline as LivePipeline).pushLive(bytes);
    return pushed(cutChunks(json), sse);
  }
  if (pipeline.pushJson) return pushed(cutChunks(pipeline.pushJson(bytes)));
  return pushed(asStored(pipeline.push(bytes)));
}

/** `pipeline.flush()` as stored chunks and a live chunk. */
export function flushChunks(pipeline: LogPipeline): PushedChunks {
  if (pipeline.flushJson) return pushed(cutChunks(pipeline.flushJson()));
  return pushed(asStored(pipeline.flush()));
}
