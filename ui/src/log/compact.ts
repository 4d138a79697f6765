// A page of log lines in a compact form: every line's text in one string with offsets, and style
// runs packed in an Int32Array. Built in the log worker (which also parses the JSON, off the main
// thread), transferred without copying, and decoded one visible line at a time — so a 10,000-line
// page is a handful of objects rather than tens of thousands, and scrolling never waits on JSON or GC.
import type { LogLine, Span } from "../types.ts";

export interface CompactPage {
  /** Number of the first line. */
  first: number;
  count: number;
  text: string;
  /** Line i's text is text.slice(offsets[i], offsets[i + 1]). */
  offsets: Int32Array;
  /** Line i's spans are spans[spanAt[i] * 5 .. spanAt[i + 1] * 5). */
  spanAt: Int32Array;
  /** Per span: start, end, fg, bg, flags | (href index + 1) << 8. */
  spans: Int32Array;
  hrefs: string[];
}

const NONE = -1;
const RGB = 0x1000000;
const FLAGS: [keyof Span, number][] = [
  ["bold", 1],
  ["dim", 2],
  ["italic", 4],
  ["underline", 8],
  ["inverse", 16],
  ["strike", 32],
];

function packColour(c: number | string | undefined): number {
  if (c === undefined) return NONE;
  if (typeof c === "number") return c;
  const m = /^#([0-9a-f]{6})$/i.exec(c);
  return m ? RGB | Number.parseInt(m[1], 16) : NONE;
}

function unpackColour(v: number): number | string | undefined {
  if (v === NONE) return undefined;
  if (v >= RGB) return `#${(v & 0xffffff).toString(16).padStart(6, "0")}`;
  return v;
}

export function encodePage(lines: LogLine[]): CompactPage {
  const count = lines.length;
  const offsets = new Int32Array(count + 1);
  const spanAt = new Int32Array(count + 1);
  let nSpans = 0;
  for (const l of lines) nSpans += l.spans.length;
  const spans = new Int32Array(nSpans * 5);
  const hrefs: string[] = [];
  const texts: string[] = new Array(count);
  let at = 0;
  let s = 0;
  for (let i = 0; i < count; i++) {
    const l = lines[i];
    texts[i] = l.text;
    offsets[i] = at;
    at += l.text.length;
    spanAt[i] = s;
    for (const sp of l.spans) {
      let flags = 0;
      for (const [k, bit] of FLAGS) if (sp[k]) flags |= bit;
      if (sp.href) flags |= (hrefs.push(sp.href) << 8) >>> 0;
      const o = s * 5;
      spans[o] = sp.start;
      spans[o + 1] = sp.end;
      spans[o + 2] = packColour(sp.fg);
      spans[o + 3] = packColour(sp.bg);
      spans[o + 4] = flags;
      s++;
    }
  }
  offsets[count] = at;
  spanAt[count] = s;
  return { first: count ? lines[0].n : 0, count, text: texts.join(""), offsets, spanAt, spans, hrefs };
}

/** Line `n` of the page (undefined outside it). */
export function decodeLine(p: CompactPage, n: number): LogLine | undefined {
  const i = n - p.first;
  if (i < 0 || i >= p.count) return undefined;
  const spans: Span[] = [];
  for (let s = p.spanAt[i]; s < p.spanAt[i + 1]; s++) {
    const o = s * 5;
    const sp: Span = { start: p.spans[o], end: p.spans[o + 1] };
    const fg = unpackColour(p.spans[o + 2]);
    const bg = unpackColour(p.spans[o + 3]);
    if (fg !== undefined) sp.fg = fg;
    if (bg !== undefined) sp.bg = bg;
    const flags = p.spans[o + 4];
    for (const [k, bit] of FLAGS) if (flags & bit) (sp as unknown as Record<string, boolean>)[k] = true;
    if (flags >> 8) sp.href = p.hrefs[(flags >> 8) - 1];
    spans.push(sp);
  }
  return { n, text: p.text.slice(p.offsets[i], p.offsets[i + 1]), spans };
}
