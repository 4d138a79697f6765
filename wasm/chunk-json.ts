// Chunks from a pipeline's JSON output (pushJson/flushJson) with each chunk's `lines` array also as
// JSON text, cut out of that output: what the server stores, so it is not serialised a second time
// (JSON.stringify of every chunk was 9 % of the server's time at 20 MB/s of ingest; docs/perf.md).
import type { LogChunk, LogPipeline } from "./types.ts";

/** Chunks, and the JSON text of each one's lines (parses to the same as its `lines`). */
export interface ChunksWithBodies {
  chunks: LogChunk[];
  bodies: string[];
}

const decoder = new TextDecoder();
const LINES_KEY = '"lines":';
const NEXT_CHUNK = ']},{"first":';

/**
 * Parses `[{"first":…,"last":…,"lines":[…]},…]` as both pipelines write it (keys in that order).
 * A quote inside a JSON string is always escaped, so `"lines":` and `]},{"first":` are found only
 * where they are structure, never inside a line's text.
 */
export function parseChunks(json: Uint8Array): ChunksWithBodies {
  const text = decoder.decode(json);
  const chunks = JSON.parse(text) as LogChunk[];
  const bodies: string[] = [];
  let from = 0;
  for (let i = 0; i < chunks.length; i++) {
    const start = text.indexOf(LINES_KEY, from) + LINES_KEY.length;
    const end = i + 1 < chunks.length ? text.indexOf(NEXT_CHUNK, start) + 1 : text.lastIndexOf("]}") + 1;
    bodies.push(text.slice(start, end));
    from = end;
  }
  return { chunks, bodies };
}

const serialised = (chunks: LogChunk[]): ChunksWithBodies => ({
  chunks,
  bodies: chunks.map((c) => JSON.stringify(c.lines)),
});

/** `pipeline.push(bytes)`, with each chunk's lines as JSON text. */
export const pushChunks = (pipeline: LogPipeline, bytes: Uint8Array): ChunksWithBodies =>
  pipeline.pushJson ? parseChunks(pipeline.pushJson(bytes)) : serialised(pipeline.push(bytes));

/** `pipeline.flush()`, with each chunk's lines as JSON text. */
export const flushChunks = (pipeline: LogPipeline): ChunksWithBodies =>
  pipeline.flushJson ? parseChunks(pipeline.flushJson()) : serialised(pipeline.flush());
