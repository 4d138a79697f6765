// A push's output as the server needs it, from a pipeline's JSON (pushJson/flushJson) without
// building line objects or decoding text: each chunk's line numbers and its `lines` array as JSON
// bytes cut out of that output (what is stored), and one chunk for live viewers whose lines are parsed only if
// someone asks for them — the WASM pipeline also renders them as Server-Sent Events (pushLive), the
// bytes every SSE viewer of the job is sent. Parsing, re-serialising, rendering and encoding every
// line was a third of the server's time at 20 MB/s of ingest (docs/perf.md).
import { concatBytes } from "./bytes.ts";
import { PUSH_PIECE_BYTES } from "./limits.ts";
import type { LogChunk, LogLine, LogPipeline } from "./types.ts";

/** A chunk as stored: its first and last line, and its lines as JSON text (UTF-8). */
export interface StoredChunk {
  first: number;
  last: number;
  /** A view of the push's own copy of the pipeline's output; stored as TEXT (CAST in service.ts). */
  body: Uint8Array;
}

export interface PushedChunks {
  chunks: StoredChunk[];
  /** All of the push's lines as one chunk for live viewers, their SSE if rendered, and the bytes both hold; null: none. */
  live: { chunk: LogChunk; sse?: Uint8Array; bytes: number } | null;
}

/** The pipelines that render SSE as well (the WASM one); JSON one array per piece, each owned. */
interface LivePipeline extends LogPipeline {
  pushLive(bytes: Uint8Array): { json: Uint8Array[]; sse: Uint8Array };
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const FIRST_KEY = encoder.encode('{"first":');
const LAST_KEY = encoder.encode(',"last":');
const LINES_KEY = encoder.encode(',"lines":');
const NEXT_CHUNK = encoder.encode(']},{"first":');
const CHUNK_END = encoder.encode("]}");

/** Where `needle` first occurs in `hay` at or after `from`; -1 if nowhere. */
function find(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const last = hay.length - needle.length;
  for (let i = hay.indexOf(needle[0], from); i >= 0 && i <= last; i = hay.indexOf(needle[0], i + 1)) {
    let k = 1;
    while (k < needle.length && hay[i + k] === needle[k]) k++;
    if (k === needle.length) return i;
  }
  return -1;
}

/** Where `needle` last occurs in `hay`; -1 if nowhere. */
function findLast(hay: Uint8Array, needle: Uint8Array): number {
  if (hay.length < needle.length) return -1;
  for (
    let i = hay.lastIndexOf(needle[0], hay.length - needle.length);
    i >= 0;
    i = hay.lastIndexOf(needle[0], i - 1)
  ) {
    let k = 1;
    while (k < needle.length && hay[i + k] === needle[k]) k++;
    if (k === needle.length) return i;
    if (i === 0) break;
  }
  return -1;
}

/** The decimal number in bytes [from, to), spaces ignored (the module pads `last`). */
function number(bytes: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (bytes[i] !== 0x20) n = n * 10 + (bytes[i] - 0x30);
  return n;
}

/**
 * Cuts `[{"first":F,"last":L,"lines":[…]},…]` as both pipelines write it (keys in that order; the
 * WASM module pads `last` with spaces). A quote inside a JSON string is always escaped, so the keys
 * and `]},{"first":` are found only where they are structure, never inside a line's text. The
 * bodies are views of `json`, which they keep: no text is decoded (a UTF-16 copy of every upload's
 * JSON was the largest garbage of ingest, docs/perf.md).
 */
export function cutChunks(json: Uint8Array): StoredChunk[] {
  const chunks: StoredChunk[] = [];
  for (let at = find(json, FIRST_KEY, 0); at >= 0; ) {
    const lastAt = find(json, LAST_KEY, at);
    const linesAt = find(json, LINES_KEY, lastAt);
    const start = linesAt + LINES_KEY.length;
    const next = find(json, NEXT_CHUNK, start);
    const end = next >= 0 ? next + 1 : findLast(json, CHUNK_END) + 1;
    chunks.push({
      first: number(json, at + FIRST_KEY.length, lastAt),
      last: number(json, lastAt + LAST_KEY.length, linesAt),
      body: json.subarray(start, end),
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
    private readonly bodies: Uint8Array[],
  ) {}

  get lines(): LogLine[] {
    this.parsed ??= this.bodies.flatMap((b) => JSON.parse(decoder.decode(b)) as LogLine[]);
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
  const bytes = chunks.reduce((n, c) => n + c.body.byteLength, sse?.byteLength ?? 0);
  return { chunks, live: { chunk, sse, bytes } };
}

const asStored = (chunks: LogChunk[]): StoredChunk[] =>
  chunks.map((c) => ({ first: c.first, last: c.last, body: encoder.encode(JSON.stringify(c.lines)) }));

/** `pipeline.push(bytes)` as stored chunks and a live chunk. */
export function pushChunks(pipeline: LogPipeline, bytes: Uint8Array): PushedChunks {
  if ("pushLive" in pipeline) {
    const { json, sse } = (pipeline as LivePipeline).pushLive(bytes);
    return pushed(json.flatMap(cutChunks), sse);
  }
  // pushJson's view lasts until the pipeline's next call; the bodies must last until stored.
  if (pipeline.pushJson) return pushed(cutChunks(pipeline.pushJson(bytes).slice()));
  return pushed(asStored(pipeline.push(bytes)));
}

/** What `pushChunksWhile` pushed: its output, the bytes of it held (JSON and SSE), the input it consumed. */
export interface PartPushed extends PushedChunks {
  held: number;
  consumed: number;
}

/**
 * `pipeline.push(bytes)` a piece (PUSH_PIECE_BYTES, as the module cuts a push) at a time while
 * `more(held)` says so after each, `held` the output's bytes so far: an upload's output follows
 * its line count, not its size (~70× it for nothing but empty lines), so the caller can stop it
 * at a budget. At least one piece is pushed; the same pieces make the same lines as one push.
 */
export function pushChunksWhile(
  pipeline: LogPipeline,
  bytes: Uint8Array,
  more: (held: number) => boolean,
): PartPushed {
  const stored: StoredChunk[] = [];
  const sse: Uint8Array[] = [];
  let held = 0;
  let at = 0;
  do {
    const piece = bytes.subarray(at, at + PUSH_PIECE_BYTES);
    at += piece.length;
    if ("pushLive" in pipeline) {
      const out = (pipeline as LivePipeline).pushLive(piece);
      for (const json of out.json) {
        stored.push(...cutChunks(json));
        held += json.length;
      }
      if (out.sse.length) sse.push(out.sse);
      held += out.sse.length;
    } else {
      const out = pushChunks(pipeline, piece);
      stored.push(...out.chunks);
      held += out.chunks.reduce((n, c) => n + c.body.length, 0);
    }
  } while (at < bytes.length && more(held));
  const live = "pushLive" in pipeline ? concatBytes(sse) : undefined;
  return { ...pushed(stored, live), held, consumed: at };
}

/** `pipeline.flush()` as stored chunks and a live chunk. */
export function flushChunks(pipeline: LogPipeline): PushedChunks {
  if (pipeline.flushJson) return pushed(cutChunks(pipeline.flushJson().slice()));
  return pushed(asStored(pipeline.flush()));
}
