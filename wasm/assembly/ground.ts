// The parser's fast loop for what nearly every byte of a build log is: printable ASCII, SGR
// sequences the memo knows (style.ts), complete two- and three-byte UTF-8 and newlines, written
// at the end of a line held as text (text.ts). The line's counters, the pen's style and where
// the last piece ended live in locals here and go back to their globals when it stops; anything
// else (a new SGR, another control, a line reaching 64 KiB) is left to parser.ts's state
// machine, whose results this must match exactly.
import { acEmpty, inPair } from "./automaton";
import { penAttrs, penBg, penFg } from "./csi";
import { LINE_LIMIT_BYTES } from "./limits";
import { newline } from "./line";
import { bytes, cursor, len } from "./linestate";
import { attrsOf, bgOf, current, fgOf, memoEntry, used } from "./style";
import { addRun, addSeam, copyAscii, lastEnd, maybeEncoded, runCount, runs, text, textCap, textRoom, units } from "./text";

/** Length of the printable-ASCII run at p (bytes 0x20..0x7e), 16 bytes at a time. */
@inline export function printableRun(p: usize, end: usize): usize {
  let q = p;
  const lo = i8x16.splat(0x20);
  const span = i8x16.splat(0x5f);
  while (q + 16 <= end) {
    const v = v128.load(q);
    const ok = i8x16.bitmask(i8x16.lt_u(i8x16.sub(v, lo), span));
    if (ok != 0xffff) return q - p + <usize>ctz(~ok);
    q += 16;
  }
  while (q < end) {
    const b = load<u8>(q);
    if (b < 0x20 || b > 0x7e) break;
    q++;
  }
  return q - p;
}

/** A seam before `next` at byte `at` of the line (text.ts's seam(), with the size in a local). */
@inline function seamAt(t: usize, at: i32, next: u32): void {
  if (at > 0 && inPair(<u32>load<u8>(t + <usize>(at - 1)), next)) addSeam(at);
}

/**
 * Runs from p while the bytes are of the kinds above; returns where it stopped. The caller
 * checked that the parser is in the ground state with no UTF-8 pending and that the line is
 * text with the cursor at its end.
 */
export function feedFast(p: usize, end: usize): usize {
  let q = p;
  let b = bytes;
  // Units and cells trail the bytes only by what multi-byte characters took: kept as those gaps.
  let du = b - units;
  let dl = b - len;
  let style = current;
  let isUsed = used;
  let last = lastEnd;
  let t = text;
  let runStyle = runCount > 0 ? load<i32>(runs + <usize>(runCount * 12 - 4)) : -1;
  let encoded = false;
  let hit = false;
  const masking = !acEmpty;
  while (true) {
    const run = <i32>printableRun(q, end);
    if (run > 0) {
      if (b + run > LINE_LIMIT_BYTES) break;
      if (b + run + 16 > textCap) t = textRoom(b + run + 16);
      if (style != runStyle) {
        addRun(b, b - du, style);
        runStyle = style;
      }
      if (masking && q != last) seamAt(t, b, <u32>load<u8>(q));
      if (copyAscii(t + <usize>b, q, run)) encoded = true;
      q += <usize>run;
      last = q;
      b += run;
      isUsed = true;
      if (q >= end) break;
    }
    const c = <u32>load<u8>(q);
    if (c == 0x1b) {
      // A short SGR seen before from this style: csi.ts sgrCached's test, written out here because
      // the same through a shared inline function ran ~10 % slower in Bun (JavaScriptCore's code
      // for the loop). The input keeps 16 spare bytes.
      if (q + 10 > end || load<u8>(q + 1) != 0x5b) break;
      const v = v128.load(q + 2);
      const digits = v128.or(i8x16.lt_u(i8x16.sub(v, i8x16.splat(0x30)), i8x16.splat(10)), i8x16.eq(v, i8x16.splat(0x3b)));
      const k = <i32>ctz(~i8x16.bitmask(digits));
      if (k >= 8 || load<u8>(q + 2 + <usize>k) != 0x6d) break;
      const w = i64x2.extract_lane(v, 0);
      const key = k == 0 ? <u64>0 : w & ((<u64>1 << (<u64>k << 3)) - 1);
      // The memo (style.ts) written out with branches: the entry's address comes from the key
      // alone and each way's style after is loaded while the style before is compared.
      const e = memoEntry(key);
      if (load<u64>(e) != key + 1) break;
      const f = style + 1;
      let id = -1;
      if (load<i32>(e, 16) == f) id = load<i32>(e, 20);
      else if (load<i32>(e, 24) == f) id = load<i32>(e, 28);
      else if (load<i32>(e, 32) == f) id = load<i32>(e, 36);
      else if (load<i32>(e, 40) == f) id = load<i32>(e, 44);
      else break;
      if (id != style) {
        style = id;
        isUsed = true;
      }
      hit = true;
      q += <usize>(k + 3);
    } else if (c == 0x0a) {
      bytes = b;
      units = b - du;
      len = b - dl;
      cursor = b - dl;
      current = style;
      used = isUsed;
      lastEnd = last;
      if (encoded) maybeEncoded = true;
      encoded = false;
      newline();
      b = 0;
      du = 0;
      dl = 0;
      style = current;
      isUsed = used;
      t = text;
      runStyle = -1;
      q++;
    } else if (c >= 0xe1 && c <= 0xef && c != 0xed) {
      // Complete three-byte UTF-8 whose lead byte has no special bounds: the input's bytes.
      if (q + 2 >= end || b + 3 > LINE_LIMIT_BYTES) break;
      const c1 = <u32>load<u8>(q + 1);
      const c2 = <u32>load<u8>(q + 2);
      if ((c1 & 0xc0) != 0x80 || (c2 & 0xc0) != 0x80) break;
      if (b + 20 > textCap) t = textRoom(b + 20);
      if (style != runStyle) {
        addRun(b, b - du, style);
        runStyle = style;
      }
      // Decoded, so a seam before it and one after (text.ts appendCodePoint).
      if (masking) seamAt(t, b, c);
      store<u8>(t + <usize>b, <u8>c);
      store<u8>(t + <usize>b, <u8>c1, 1);
      store<u8>(t + <usize>b, <u8>c2, 2);
      last = 0;
      b += 3;
      du += 2;
      dl += 2;
      isUsed = true;
      q += 3;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (q + 1 >= end || b + 2 > LINE_LIMIT_BYTES) break;
      const c1 = <u32>load<u8>(q + 1);
      if ((c1 & 0xc0) != 0x80) break;
      q += 2;
      // C1 controls decoded from UTF-8 are controls too: dropped.
      if (c != 0xc2 || c1 >= 0xa0) {
        if (style != runStyle) {
          addRun(b, b - du, style);
          runStyle = style;
        }
        if (b + 20 > textCap) t = textRoom(b + 20);
        if (masking) seamAt(t, b, c);
        store<u8>(t + <usize>b, <u8>c);
        store<u8>(t + <usize>b, <u8>c1, 1);
        last = 0;
        b += 2;
        du++;
        dl++;
        isUsed = true;
      }
    } else break;
    if (q >= end) break;
  }
  bytes = b;
  units = b - du;
  len = b - dl;
  cursor = b - dl;
  current = style;
  used = isUsed;
  lastEnd = last;
  if (encoded) maybeEncoded = true;
  if (hit) setPen(style);
  return q;
}

/** The pen after a memoised SGR: the fields of the style it led to (style.ts). */
@inline function setPen(style: i32): void {
  penFg = fgOf(style);
  penBg = bgOf(style);
  penAttrs = attrsOf(style);
}
