// The general representation of a line: one cell (code point + style id) per character, so
// `\r`, backspace and erase-line can rewrite it like a terminal. A line moves here from
// text.ts the first time the cursor is not at its end when something is written or erased.
import { grow, newCapacity } from "./buffer";
import { LINE_LIMIT_BYTES } from "./limits";
import { asText, bytes, cont, cursor, len, next, utf8Len } from "./linestate";
import { beginLine, ensure, L_CONT_END, L_N, L_SPANS, L_TEXT, outBuf, outLen, put, putByte, putLineNumber } from "./output";
import { writeSpan } from "./spans";
import { current, markUsed, same } from "./style";
import { runCount, runs, text } from "./text";

let cps: usize = 0;
let sts: usize = 0;
let cellCap: i32 = 0;
// (style, start, end) triples for the line being emitted.
let spans: usize = 0;
let spanCap: i32 = 0;

function reserve(n: i32): void {
  if (n <= cellCap) return;
  const size = newCapacity(cellCap, n);
  cps = grow(cps, cellCap << 2, size << 2);
  sts = grow(sts, cellCap << 2, size << 2);
  cellCap = size;
}

/** Converts the text representation (text.ts) into cells. */
export function toCells(): void {
  reserve(len + 16);
  let c = 0;
  for (let k = 0; k < runCount; k++) {
    const style = load<i32>(runs + <usize>(k * 12), 8);
    let b = load<i32>(runs + <usize>(k * 12));
    const stop = k + 1 < runCount ? load<i32>(runs + <usize>((k + 1) * 12)) : bytes;
    while (b < stop) {
      const lead = <u32>load<u8>(text + <usize>b);
      let cp: u32;
      if (lead < 0x80) {
        cp = lead;
        b++;
      } else if (lead < 0xe0) {
        cp = ((lead & 0x1f) << 6) | (<u32>load<u8>(text + <usize>b + 1) & 0x3f);
        b += 2;
      } else if (lead < 0xf0) {
        cp = ((lead & 0x0f) << 12) | ((<u32>load<u8>(text + <usize>b + 1) & 0x3f) << 6) | (<u32>load<u8>(text + <usize>b + 2) & 0x3f);
        b += 3;
      } else {
        cp =
          ((lead & 0x07) << 18) |
          ((<u32>load<u8>(text + <usize>b + 1) & 0x3f) << 12) |
          ((<u32>load<u8>(text + <usize>b + 2) & 0x3f) << 6) |
          (<u32>load<u8>(text + <usize>b + 3) & 0x3f);
        b += 4;
      }
      store<u32>(cps + (<usize>c << 2), cp);
      store<i32>(sts + (<usize>c << 2), style);
      c++;
    }
  }
  asText = false;
}

/** Writes one character at the cursor; false when the line would pass 64 KiB (caller splits). */
export function cellWrite(cp: u32): bool {
  const size = utf8Len(cp);
  let more: i32;
  if (cursor < len) more = size - utf8Len(load<u32>(cps + (<usize>cursor << 2)));
  else more = cursor - len + size;
  if (bytes + more > LINE_LIMIT_BYTES) return false;
  if (cursor >= cellCap) reserve(cursor + 1);
  // Cells skipped by a tab are blanks in the default style.
  while (len < cursor) {
    store<u32>(cps + (<usize>len << 2), 0x20);
    store<u32>(sts + (<usize>len << 2), 0);
    len++;
  }
  store<u32>(cps + (<usize>cursor << 2), cp);
  store<u32>(sts + (<usize>cursor << 2), current);
  cursor++;
  if (cursor > len) len = cursor;
  bytes += more;
  markUsed();
  return true;
}

/** Writes printable ASCII; returns how many bytes it took (0: the caller splits the line). */
export function cellWriteAscii(p: usize, n: i32): i32 {
  if (cursor < len) {
    // Overwriting (a progress bar after \r): ASCII never makes the line longer in bytes.
    let m = len - cursor;
    if (m > n) m = n;
    const style = current;
    for (let k = 0; k < m; k++) {
      const at = <usize>(cursor + k) << 2;
      const old = load<u32>(cps + at);
      if (old >= 0x80) bytes -= utf8Len(old) - 1;
      store<u32>(cps + at, load<u8>(p + <usize>k));
      store<u32>(sts + at, style);
    }
    cursor += m;
    markUsed();
    return m;
  }
  if (cursor > len) return cellWrite(<u32>load<u8>(p)) ? 1 : 0;
  let take = LINE_LIMIT_BYTES - bytes;
  if (take > n) take = n;
  if (take <= 0) return 0;
  reserve(len + take + 16);
  const style = i32x4.splat(current);
  let c = cps + (<usize>len << 2);
  let s = sts + (<usize>len << 2);
  let i = 0;
  for (; i + 16 <= take; i += 16) {
    const v = v128.load(p + <usize>i);
    const lo = i16x8.extend_low_i8x16_u(v);
    const hi = i16x8.extend_high_i8x16_u(v);
    v128.store(c, i32x4.extend_low_i16x8_u(lo));
    v128.store(c, i32x4.extend_high_i16x8_u(lo), 16);
    v128.store(c, i32x4.extend_low_i16x8_u(hi), 32);
    v128.store(c, i32x4.extend_high_i16x8_u(hi), 48);
    v128.store(s, style);
    v128.store(s, style, 16);
    v128.store(s, style, 32);
    v128.store(s, style, 48);
    c += 64;
    s += 64;
  }
  for (; i < take; i++) {
    store<u32>(c, load<u8>(p + <usize>i));
    store<u32>(s, current);
    c += 4;
    s += 4;
  }
  len += take;
  cursor = len;
  bytes += take;
  markUsed();
  return take;
}

/** ESC[K: 0 = cursor to end, 1 = start to cursor, 2 = whole line. */
export function cellErase(mode: i32): void {
  if (mode == 0) {
    if (cursor == 0) {
      len = 0;
      bytes = 0;
    } else if (cursor < len) {
      for (let i = cursor; i < len; i++) bytes -= utf8Len(load<u32>(cps + (<usize>i << 2)));
      len = cursor;
    }
  } else if (mode == 1) {
    const end = cursor < len ? cursor + 1 : len;
    for (let i = 0; i < end; i++) {
      bytes -= utf8Len(load<u32>(cps + (<usize>i << 2))) - 1;
      store<u32>(cps + (<usize>i << 2), 0x20);
      store<u32>(sts + (<usize>i << 2), 0);
    }
  } else if (mode == 2) {
    len = 0;
    bytes = 0;
  }
}

function addSpan(count: i32, style: i32, start: i32, end: i32): i32 {
  if ((count + 1) * 12 > spanCap) {
    spans = grow(spans, spanCap, (count + 1) * 12);
    spanCap = newCapacity(spanCap, (count + 1) * 12);
  }
  const at = spans + <usize>(count * 12);
  store<i32>(at, style);
  store<i32>(at, start, 4);
  store<i32>(at, end, 8);
  return count + 1;
}

/** Writes the line as JSON: text and merged non-default style runs. */
export function emitCells(): void {
  beginLine(next, bytes);
  // Worst case per cell: 4 bytes of UTF-8, or 2 for an escaped quote or backslash.
  ensure(80 + len * 4);
  put(L_N);
  putLineNumber(next++);
  put(L_TEXT);
  let o = outBuf + <usize>outLen;
  let count = 0;
  let unit = 0;
  let runStart = 0;
  let runStyle = 0;
  const quote = i8x16.splat(0x22);
  const backslash = i8x16.splat(0x5c);
  const nonAscii = i32x4.splat(~0x7f);
  let i = 0;
  while (i < len) {
    // One style run at a time: find where the style id changes, four cells per compare.
    const st = load<i32>(sts + (<usize>i << 2));
    let j = i + 1;
    const sv = i32x4.splat(st);
    while (j + 4 <= len && i32x4.all_true(i32x4.eq(v128.load(sts + (<usize>j << 2)), sv))) j += 4;
    while (j < len && load<i32>(sts + (<usize>j << 2)) == st) j++;
    if (st != runStyle && !same(st, runStyle)) {
      if (runStyle != 0 && unit > runStart) count = addSpan(count, runStyle, runStart, unit);
      runStart = unit;
      runStyle = st;
    }
    while (i < j) {
      // Sixteen cells at a time while they are plain ASCII with nothing to escape.
      if (i + 16 <= j) {
        const c = cps + (<usize>i << 2);
        const c0 = v128.load(c);
        const c1 = v128.load(c, 16);
        const c2 = v128.load(c, 32);
        const c3 = v128.load(c, 48);
        // Narrowing saturates as signed, so test for non-ASCII on the 32-bit lanes first.
        const high = v128.and(v128.or(v128.or(c0, c1), v128.or(c2, c3)), nonAscii);
        const bytes16 = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(c0, c1), i16x8.narrow_i32x4_u(c2, c3));
        const special = v128.or(i8x16.eq(bytes16, quote), i8x16.eq(bytes16, backslash));
        if (!v128.any_true(v128.or(high, special))) {
          v128.store(o, bytes16);
          o += 16;
          unit += 16;
          i += 16;
          continue;
        }
      }
      const stop = i + 16 < j ? i + 16 : j;
      for (; i < stop; i++) {
        const cp = load<u32>(cps + (<usize>i << 2));
        if (cp < 0x80) {
          if (cp == 0x22 || cp == 0x5c) {
            store<u8>(o, 0x5c);
            o++;
          }
          store<u8>(o, <u8>cp);
          o++;
          unit++;
        } else if (cp < 0x800) {
          store<u8>(o, <u8>(0xc0 | (cp >> 6)));
          store<u8>(o, <u8>(0x80 | (cp & 0x3f)), 1);
          o += 2;
          unit++;
        } else if (cp < 0x10000) {
          store<u8>(o, <u8>(0xe0 | (cp >> 12)));
          store<u8>(o, <u8>(0x80 | ((cp >> 6) & 0x3f)), 1);
          store<u8>(o, <u8>(0x80 | (cp & 0x3f)), 2);
          o += 3;
          unit++;
        } else {
          store<u8>(o, <u8>(0xf0 | (cp >> 18)));
          store<u8>(o, <u8>(0x80 | ((cp >> 12) & 0x3f)), 1);
          store<u8>(o, <u8>(0x80 | ((cp >> 6) & 0x3f)), 2);
          store<u8>(o, <u8>(0x80 | (cp & 0x3f)), 3);
          o += 4;
          unit += 2;
        }
      }
    }
  }
  if (runStyle != 0 && unit > runStart) count = addSpan(count, runStyle, runStart, unit);
  outLen = <i32>(o - outBuf);
  put(L_SPANS);
  for (let k = 0; k < count; k++) {
    const at = spans + <usize>(k * 12);
    if (k > 0) {
      ensure(1);
      putByte(0x2c);
    }
    writeSpan(load<i32>(at), load<i32>(at, 4), load<i32>(at, 8));
  }
  ensure(16);
  if (cont) put(L_CONT_END);
  else {
    putByte(0x5d);
    putByte(0x7d);
  }
}

