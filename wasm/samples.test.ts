// Hand-written npm, cargo, docker, pytest and jest output through both implementations.
import { describe, expect, test } from "bun:test";
import { jest, samples } from "./fixtures/samples.ts";
import { renderHtml } from "./index.ts";
import { enc, implementations, run, texts } from "./testing.ts";

const impls = await implementations();

for (const [name, make] of impls) {
  describe(`${name}: tool output`, () => {
    for (const sample of samples) {
      test(`${sample.name} renders to the lines a reader sees, in any chunking`, () => {
        expect(texts(run(make, sample.raw))).toEqual(sample.lines);
        const n = enc.encode(sample.raw).length;
        const cuts = Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 === 0);
        expect(texts(run(make, sample.raw, cuts))).toEqual(sample.lines);
      });
    }

    test("jest's badges and glyphs keep their styles", () => {
      const [badge, pass, fail] = run(make, jest.raw);
      expect(badge.spans[0]).toEqual({ start: 0, end: 6, fg: 2, bold: true, inverse: true });
      expect(pass.spans[0]).toEqual({ start: 2, end: 3, fg: 2 });
      expect(fail.spans[0]).toEqual({ start: 2, end: 3, fg: 1 });
      expect(renderHtml([badge])).toContain('<span class="term-fg1 term-fg7 term-fg32"> PASS </span>');
    });
  });
}
