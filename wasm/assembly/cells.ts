// The general representation of a line: one cell (code point + style id) per character, so
// `\r`, backspace and erase-line can rewrite it like a terminal. A line moves here from
// text.ts the first time the cursor is not at its end when something is written or erased.
import { grow, newCapacity } from "./buffer";
import { LINE_LIMIT_BYTES } from "./limits";
import { asText, bytes, cursor, len, utf8Len } from "./linestate";
import { current, markUsed } from "./style";
import { appendCells, clearText, runCount, runs, text } from "./text";

let cps: usize = 0;
let sts: usize = 0;
let cellCap: i32 = 0;

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

/** Back to the text representation (text.ts) for emitting: the cells as UTF-8 and style runs. */
export function toText(): void {
  const n = len;
  clearText();
  appendCells(cps, sts, n);
  asText = true;
}
