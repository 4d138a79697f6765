// Each chunk's stored body, cut from the pipeline's JSON output, parses to exactly its lines: with
// texts that spell the cut's own markers, quotes, backslashes and links, chunks split by the line
// limit (many chunks in one push), pieces joined by pushJson, and both implementations.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { flushChunks, pushChunks } from "./chunk-json.ts";
import { PUSH_PIECE_BYTES } from "./limits.ts";
import { enc, implementations } from "./testing.ts";

const impls = await implementations();

const tricky = [
  ']},{"first":1,"last":2,"lines":[',
  '"lines":[]}]',
  '\\"lines\\":',
  "\\",
  '"',
  "]}]",
  "\x1b[31mred\x1b[0m",
  "\x1b]8;;https://example.com/a?b=]},{\x1b\\link\x1b]8;;\x1b\\",
  "ü€😀",
  "\r",
];

/**
 * Pushes `bytes` cut at `cuts` (then a flush) through one pipeline with pushChunks/flushChunks and
 * through another with push/flush; each push must give the same chunks: stored bodies that parse to
 * the lines, the live chunk's lines all of them. Returns how many chunks there were.
 */
function check(make: (typeof impls)[number][1], bytes: Uint8Array, cuts: number[]): number {
  const p = make({ secrets: ["lines"] });
  const oracle = make({ secrets: ["lines"] });
  let chunks = 0;
  let at = 0;
  const parts = [...cuts, bytes.length].map((end) => {
    const piece = bytes.subarray(at, Math.max(at, end));
    at = Math.max(at, end);
    return piece;
  });
  const steps = [
    ...parts.map((piece) => () => [pushChunks(p, piece), oracle.push(piece)] as const),
    () => [flushChunks(p), oracle.flush()] as const,
  ];
  for (const step of steps) {
    const [got, want] = step();
    expect(got.chunks.map((c) => [c.first, c.last, JSON.parse(new TextDecoder().decode(c.body))])).toEqual(
      want.map((c) => [c.first, c.last, c.lines]),
    );
    if (want.length === 0) expect(got.live).toBeNull();
    else {
      expect(got.live?.chunk.first).toBe(want[0].first);
      expect(got.live?.chunk.last).toBe(want[want.length - 1].last);
      expect(got.live?.chunk.lines).toEqual(want.flatMap((c) => c.lines));
    }
    chunks += want.length;
  }
  p.dispose();
  oracle.dispose();
  return chunks;
}

for (const [name, make] of impls) {
  describe(`${name}: chunk bodies cut from the JSON output`, () => {
    test("texts that spell the markers", () => {
      const text = tricky.map((t, i) => `${i} ${t} ${t}${t}\n`).join("");
      expect(check(make, enc.encode(text), [7, 40])).toBeGreaterThan(0);
    });

    test("one push of many chunks (over the 1,000-line limit), also in pieces", () => {
      const text = Array.from({ length: 3500 }, (_, i) => `${i} ${tricky[i % tricky.length]}\n`).join("");
      expect(check(make, enc.encode(text), [])).toBeGreaterThanOrEqual(4);
      expect(check(make, enc.encode(text), [1, 50_000, 50_001])).toBeGreaterThanOrEqual(4);
    });

    test("random texts in random pieces", () => {
      const token = fc.oneof(fc.constantFrom(...tricky, "\n", "\n\n"), fc.string({ maxLength: 12 }));
      fc.assert(
        fc.property(
          fc.array(token, { maxLength: 200 }).chain((parts) => {
            const bytes = enc.encode(parts.join(""));
            const cuts = fc
              .array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 8 })
              .map((c) => c.sort((a, b) => a - b));
            return fc.tuple(fc.constant(bytes), cuts);
          }),
          ([bytes, cuts]) => {
            check(make, bytes, cuts);
          },
        ),
        { numRuns: 300 },
      );
      // CPU-bound: ~1 s quiet, 6.5 s under load; the net only catches a hang.
    }, 300_000);
  });
}

describe("wasm: what a push holds", () => {
  test("stored bodies are views of one copy of each piece's JSON, never decoded text", () => {
    const [, make] = impls.find(([name]) => name === "wasm")!;
    const p = make({ secrets: ["lines"] });
    const text = Array.from(
      { length: 40_000 },
      (_, i) => `  \x1b[32m✓\x1b[0m case ${i} ü ${tricky[i % 10]}\n`,
    );
    const bytes = enc.encode(text.join(""));
    expect(bytes.length).toBeGreaterThan(1 << 20);
    const { chunks, live } = pushChunks(p, bytes);
    const buffers = new Set(chunks.map((c) => c.body.buffer));
    const held = [...buffers].reduce((n, b) => n + b.byteLength, 0);
    const bodies = chunks.reduce((n, c) => n + c.body.length, 0);
    // One buffer per piece; beyond the bodies, only each chunk's keys and line numbers.
    expect(buffers.size).toBeLessThanOrEqual(Math.ceil(bytes.length / PUSH_PIECE_BYTES));
    expect(held).toBeLessThan(bodies + 64 * chunks.length);
    expect(chunks.every((c) => c.body instanceof Uint8Array)).toBe(true);
    // Its lines are still all there for a viewer that asks.
    expect(live?.chunk.lines.length).toBe(40_000);
    p.dispose();
  });
});
