// The WASM pipeline renders a push's lines as SSE itself (wasm/assembly/sse.ts); those bytes must be
// exactly what sseLines makes of the same lines, since viewers get one or the other: escapes, masks,
// links, styles, non-ASCII, split long lines, many chunks in one push, and pushes over one piece.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { pushChunks } from "../../wasm/chunk-json.ts";
import { loadLogPipeline } from "../../wasm/index.ts";
import { sseLines } from "./sse.ts";

const factory = await loadLogPipeline();
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Pushes each piece; every push's SSE must equal sseLines of its lines. */
function check(pieces: string[], secrets: string[] = []): number {
  const p = factory.create({ secrets });
  let lines = 0;
  for (const piece of pieces) {
    const { live } = pushChunks(p, enc.encode(piece));
    if (!live) continue;
    expect(live.sse).toBeDefined();
    expect(dec.decode(live.sse)).toBe(dec.decode(sseLines(live.chunk.lines)));
    lines += live.chunk.lines.length;
  }
  p.dispose();
  return lines;
}

const tricky = [
  'say "hi"',
  "C:\\path\\to\\file",
  '\\"',
  '{"n":7,"text":"',
  "\x1b[1;31mbold red\x1b[0m plain \x1b[38;2;1;2;3mrgb\x1b[0m",
  '\x1b]8;;https://example.com/?q="a"\x1b\\link\x1b]8;;\x1b\\',
  "ü€😀 \u2028 \ufeff",
  "\t tab \b bs \x07 bel \r cr",
  "hunter22 secret",
  "",
];

describe("SSE rendered by the WASM pipeline", () => {
  test("tricky lines, a secret, cut anywhere", () => {
    const text = tricky.map((t, i) => `${i}: ${t}\n`).join("");
    expect(check([text], ["hunter22"])).toBe(tricky.length);
    for (let cut = 1; cut < text.length; cut += 7) check([text.slice(0, cut), text.slice(cut)], ["hunter22"]);
  });

  test("a line over 64 KiB (continued), many chunks in one push, a push over 1 MiB", () => {
    expect(check([`${"x".repeat(150_000)}\n`])).toBe(3);
    expect(check([Array.from({ length: 3500 }, (_, i) => `line ${i} "${i}"\n`).join("")])).toBe(3500);
    const big = Array.from({ length: 60_000 }, (_, i) => `${i} ${tricky[i % tricky.length]}\n`).join("");
    expect(big.length).toBeGreaterThan(1 << 20);
    expect(check([big])).toBe(60_000);
  });

  test("random lines in random pieces", () => {
    const token = fc.oneof(
      fc.constantFrom(...tricky, "\n", "\x1b[", "\x1b]8;;"),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(fc.array(fc.array(token, { maxLength: 30 }), { maxLength: 8 }), (pieces) => {
        check(pieces.map((p) => p.join("")));
      }),
      { numRuns: 300 },
    );
  });
});
