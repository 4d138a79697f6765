// The compact page form round-trips every line exactly: texts, every style field, true colours, links.
import { describe, expect, test } from "bun:test";
import type { LogLine } from "../types.ts";
import { decodeLine, encodePage } from "./compact.ts";

const lines: LogLine[] = [
  { n: 41, text: "plain", spans: [] },
  {
    n: 42,
    text: "red bold and a link",
    spans: [
      { start: 0, end: 3, fg: 1, bold: true },
      { start: 14, end: 19, href: "https://example.com/x?y=1", underline: true },
    ],
  },
  { n: 43, text: "", spans: [] },
  {
    n: 44,
    text: "ünïcødé ✓ truecolor",
    spans: [
      { start: 0, end: 7, fg: "#0ac81e", bg: "#000000" },
      { start: 10, end: 19, fg: 208, bg: 17, dim: true, italic: true, inverse: true, strike: true },
    ],
  },
  {
    n: 45,
    text: "two links",
    spans: [
      { start: 0, end: 3, href: "http://a.test/" },
      { start: 4, end: 9, href: "http://b.test/" },
    ],
  },
];

describe("compact log pages", () => {
  test("decode(encode(lines)) gives back every line", () => {
    const page = encodePage(lines);
    expect(page.first).toBe(41);
    expect(page.count).toBe(5);
    for (const l of lines) expect(decodeLine(page, l.n)).toEqual(l);
  });

  test("outside the page is undefined; an empty page holds nothing", () => {
    const page = encodePage(lines);
    expect(decodeLine(page, 40)).toBeUndefined();
    expect(decodeLine(page, 46)).toBeUndefined();
    const empty = encodePage([]);
    expect(empty.count).toBe(0);
    expect(decodeLine(empty, 1)).toBeUndefined();
  });

  test("10,000 lines pack into one string and three typed arrays", () => {
    const many: LogLine[] = Array.from({ length: 10_000 }, (_, i) => ({
      n: i + 1,
      text: `line ${i + 1}`,
      spans: i % 3 ? [] : [{ start: 0, end: 4, fg: i % 256 }],
    }));
    const page = encodePage(many);
    expect(page.offsets.length).toBe(10_001);
    expect(page.spans.length).toBe(Math.ceil(10_000 / 3) * 5);
    expect(decodeLine(page, 9999)).toEqual(many[9998]);
    expect(decodeLine(page, 10_000)).toEqual(many[9999]);
  });
});
