// Each chunk's stored body, cut from the pipeline's JSON output, parses to exactly its lines: with
// texts that spell the cut's own markers, quotes, backslashes and links, chunks split by the line
// limit (many chunks in one push), pieces joined by pushJson, and both implementations.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { flushChunks, pushChunks } from "./chunk-json.ts";
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

function check(make: (typeof impls)[number][1], bytes: Uint8Array, cuts: number[]): number {
  const p = make({ secrets: ["lines"] });
  let chunks = 0;
  let at = 0;
  const parts = [...cuts, bytes.length].map((end) => {
    const piece = bytes.subarray(at, Math.max(at, end));
    at = Math.max(at, end);
    return piece;
  });
  for (const got of [...parts.map((piece) => pushChunks(p, piece)), flushChunks(p)]) {
    expect(got.bodies.length).toBe(got.chunks.length);
    got.chunks.forEach((c, i) => {
      expect(JSON.parse(got.bodies[i])).toEqual(c.lines);
    });
    chunks += got.chunks.length;
  }
  p.dispose();
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
    });
  });
}
