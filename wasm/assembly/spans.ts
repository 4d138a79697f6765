// Span JSON: `{"start":..,"end":..,<style fields>}`, with the style fields rendered once per
// style and copied after that.
import {
  decimalAt, ensure, L_BG, L_BOLD, L_DIM, L_FG, L_HREF, L_INVERSE, L_ITALIC, L_STRIKE, L_UNDERLINE,
  outBuf, outLen, put, put16, put8, putByte, putU32,
} from "./output";
import {
  attrsOf, bgOf, cacheSpanJson, fgOf, hrefLen, hrefPtr, PALETTE, spanJson, spanJsonLen,
} from "./style";

function putColour(c: u32): void {
  if (c & PALETTE) {
    putU32(c & 0xff);
    return;
  }
  putByte(0x22);
  putByte(0x23);
  for (let shift = 20; shift >= 0; shift -= 4) {
    const d = (c >> shift) & 0xf;
    putByte(d < 10 ? 0x30 + d : 0x57 + d);
  }
  putByte(0x22);
}

/** Bytes a span may take when its style JSON is cached and at most 32 bytes (see writeSpan). */
export const SPAN_ROOM = 64;

/**
 * Writes `,{"start":..,"end":..` and the style fields at `o` (the caller fixes the first span's
 * comma); returns where it ends. The caller reserved SPAN_ROOM bytes for this span and each after.
 */
@inline export function writeSpan(o: usize, style: i32, start: i32, end: i32, spansLeft: i32): usize {
  const n = spanJsonLen(style);
  if (<u32>n > 32) return writeSpanSlow(o, style, start, end, spansLeft);
  store<u64>(o, 0x7472617473227b2c); // `,{"start":`
  store<u16>(o, 0x3a22, 8);
  o = decimalAt(o + 10, start);
  store<u64>(o, 0x3a22646e65222c); // `,"end":`
  o = decimalAt(o + 7, end);
  // The style fields and the closing brace are the same every time a style is used: rendered
  // once, then copied (style.ts keeps 32 bytes readable past each).
  const src = spanJson(style);
  v128.store(o, v128.load(src));
  v128.store(o, v128.load(src, 16), 16);
  return o + <usize>n;
}

/** A span whose style JSON is not cached or is long; reserves its own room, and again for the rest. */
function writeSpanSlow(o: usize, style: i32, start: i32, end: i32, spansLeft: i32): usize {
  outLen = <i32>(o - outBuf);
  const hl = hrefLen(style);
  ensure(256 + hl * 2 + 16);
  put16(0x7472617473227b2c, 0x3a22, 10); // `,{"start":`
  putU32(start);
  put8(0x3a22646e65222c, 7); // `,"end":`
  putU32(end);
  const cached = spanJson(style);
  if (cached != 0) {
    const n = spanJsonLen(style);
    const dst = outBuf + <usize>outLen;
    for (let i: i32 = 0; i < n; i += 8) store<u64>(dst + <usize>i, load<u64>(cached + <usize>i));
    outLen += n;
  } else renderStyle(style, hl);
  ensure(spansLeft * SPAN_ROOM + 32);
  return outBuf + <usize>outLen;
}

/** Writes the style fields and closing brace of a span, and caches them. */
function renderStyle(style: i32, hl: i32): void {
  const from = outLen;
  const fg = fgOf(style);
  const bg = bgOf(style);
  const a = attrsOf(style);
  if (fg != 0) {
    put(L_FG);
    putColour(fg);
  }
  if (bg != 0) {
    put(L_BG);
    putColour(bg);
  }
  if (a & 1) put(L_BOLD);
  if (a & 2) put(L_DIM);
  if (a & 4) put(L_ITALIC);
  if (a & 8) put(L_UNDERLINE);
  if (a & 16) put(L_INVERSE);
  if (a & 32) put(L_STRIKE);
  if (hl > 0) {
    put(L_HREF);
    const h = hrefPtr(style);
    for (let i = 0; i < hl; i++) {
      const b = <u32>load<u8>(h + <usize>i);
      if (b == 0x22 || b == 0x5c) putByte(0x5c);
      putByte(b);
    }
    putByte(0x22);
  }
  putByte(0x7d);
  cacheSpanJson(style, outBuf + <usize>from, outLen - from);
}
