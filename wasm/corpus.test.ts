// The real logs in /work/shared/corpus/ansi (read-only) through both implementations.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { corpusPath } from "../tests/support/corpus.ts";
import { renderHtml, renderText } from "./index.ts";
import { implementations, run } from "./testing.ts";

const DIR = `${corpusPath("ansi")}/`;
const files = existsSync(DIR) ? readdirSync(DIR).filter((f) => !f.endsWith(".rendered")) : [];
const [[, reference], [, wasm]] = await implementations();
const read = (name: string) => new Uint8Array(readFileSync(DIR + name));

/** Text of a Buildkite .rendered file: tags stripped, entities decoded, trailing blanks trimmed. */
function renderedText(name: string): string[] {
  const html = readFileSync(DIR + name, "utf8");
  const text = html
    .replace(/<[^>]*>/g, "")
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&");
  const lines = text.split("\n").map((l) => l.trimEnd());
  while (lines.at(-1) === "") lines.pop();
  return lines;
}

describe.skipIf(files.length === 0)("corpus", () => {
  for (const name of files) {
    test(`${name}: WASM equals reference, chunking does not matter, nothing raw survives`, () => {
      const bytes = read(name);
      const lines = run(wasm, bytes);
      expect(lines).toEqual(run(reference, bytes));
      const cuts = Array.from({ length: Math.ceil(bytes.length / 997) }, (_, i) => i * 997 + (i % 13));
      expect(run(wasm, bytes, cuts)).toEqual(lines);
      for (const out of [renderHtml(lines), renderText(lines)]) {
        expect(out.includes("\x1b")).toBe(false);
        expect(/[\x00-\x09\x0b-\x1f\x7f]/.test(out)).toBe(false);
      }
    });
  }

  test("curl's progress meter ends as one line with its final text (matches Buildkite)", () => {
    const lines = run(wasm, read("buildkite__terminal-to-html__curl.sh.raw")).map((l) => l.text.trimEnd());
    expect(lines).toEqual(renderedText("buildkite__terminal-to-html__curl.sh.rendered"));
    expect(lines.at(-1)).toBe(
      "100   170  100   170    0     0    105      0  0:00:01  0:00:01 --:--:--   105",
    );
  });

  test("gitlab logs pass through with as many lines as \\n-terminated lines", () => {
    for (const name of files.filter((f) => f.startsWith("gitlab"))) {
      const bytes = read(name);
      const newlines = bytes.reduce((n, b) => n + (b === 0x0a ? 1 : 0), 0);
      expect(run(wasm, bytes)).toHaveLength(newlines);
    }
  });

  test("Buildkite's timestamp APCs are dropped, the text after them kept", () => {
    const lines = run(wasm, read("buildkite__terminal-to-html__playwright.sh.raw")).map((l) => l.text);
    expect(lines).toContain("Starting the run with 8 tests");
  });

  test("OSC 8 links in the iTerm sample become http(s) spans only", () => {
    const lines = run(wasm, read("buildkite__terminal-to-html__itermlinks.sh.raw"));
    const hrefs = lines.flatMap((l) => l.spans.map((s) => s.href)).filter(Boolean) as string[];
    expect(hrefs).toContain("https://en.wikipedia.org/wiki/ANSI_escape_codes");
    expect(hrefs).toContain("https://yahoo.com/");
    for (const h of hrefs) expect(h).toMatch(/^https?:\/\//);
    const first = lines[0];
    expect(first.text).toBe("   1: A reference on ANSI escape codes");
    expect(first.spans).toEqual([
      { start: 21, end: 38, href: "https://en.wikipedia.org/wiki/ANSI_escape_codes" },
    ]);
  });
});
