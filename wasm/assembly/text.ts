// The fast representation of a line: its UTF-8 text and a list of style runs, used while the
// line is only appended to (the cursor at its end), which is nearly every line of a build log.
// Appending is a copy, emitting is a copy with JSON escaping; no per-character cells.
import { acEmpty, anySpace, inPair } from "./automaton";
import { grow, newCapacity } from "./buffer";
import { LINE_LIMIT_BYTES } from "./limits";
import { beginLine, outBuf, outLen } from "./output";
import { SPAN_ROOM, writeSpan } from "./spans";
import { current, markUsed, same } from "./style";
import { bytes, cont, cursor, len, next, utf8Len } from "./linestate";

export let text: usize = 0;
export let textCap: i32 = 0;
/** UTF-16 length of the text (span offsets are in UTF-16 units). */
export let units: i32 = 0;
// Runs as (byte start, unit start, style id) triples.
export let runs: usize = 0;
let runCap: i32 = 0;
export let runCount: i32 = 0;
// Seams: offsets where the text stops being one stretch of the bytes the masker released (an
// escape, a control, a mask or a decoded character between two pieces). Only there can the
// rendered text hold a secret the masker did not see whole (rendered.ts).
export let seams: usize = 0;
let seamCap: i32 = 0;
export let seamCount: i32 = 0;
/** Where the last appended piece ended in the input; 0 after anything but ASCII from the input. */
export let lastEnd: usize = 0;

/**
 * Notes a seam before `next`, the byte about to be appended, if a pattern could cross it: only if
 * the byte before and `next` occur together in one (with no patterns, the line is scanned whole
 * once they come, see rendered.ts).
 */
@inline function seam(next: u32): void {
  if (bytes == 0 || acEmpty || !inPair(<u32>load<u8>(text + <usize>(bytes - 1)), next)) return;
  if (seamCount > 0 && load<i32>(seams + (<usize>(seamCount - 1) << 2)) == bytes) return;
  if ((seamCount + 1) * 4 > seamCap) {
    seams = grow(seams, seamCap, (seamCount + 1) * 4);
    seamCap = newCapacity(seamCap, (seamCount + 1) * 4);
  }
  store<i32>(seams + (<usize>(seamCount++) << 2), bytes);
}

/** A seam at byte `at` (ground.ts: the same as seam() with the line's size in a local). */
export function addSeam(at: i32): void {
  if (seamCount > 0 && load<i32>(seams + (<usize>(seamCount - 1) << 2)) == at) return;
  if ((seamCount + 1) * 4 > seamCap) {
    seams = grow(seams, seamCap, (seamCount + 1) * 4);
    seamCap = newCapacity(seamCap, (seamCount + 1) * 4);
  }
  store<i32>(seams + (<usize>(seamCount++) << 2), at);
}

/** A style run starting at byte `at`, unit `unit` (ground.ts; the caller knows the style changed). */
@inline export function addRun(at: i32, unit: i32, style: i32): void {
  if ((runCount + 1) * 12 > runCap) growRuns();
  const r = runs + <usize>(runCount * 12);
  store<i32>(r, at);
  store<i32>(r, unit, 4);
  store<i32>(r, style, 8);
  runCount++;
}

function growRuns(): void {
  runs = grow(runs, runCap, (runCount + 1) * 12);
  runCap = newCapacity(runCap, (runCount + 1) * 12);
}

/** Room for `n` text bytes; returns the (maybe moved) text buffer. */
export function textRoom(n: i32): usize {
  reserveText(n);
  return text;
}

/** Whether the text may read differently percent-decoded (set by appendAscii and appendCodePoint). */
export let maybeEncoded = false;

/** A new push or flush: the input buffer moved, so the next piece starts a new stretch. */
export function breakStretch(): void {
  lastEnd = 0;
}

@inline function reserveText(n: i32): void {
  if (n > textCap) {
    text = grow(text, textCap, n);
    textCap = newCapacity(textCap, n);
  }
}

@inline function startRun(style: i32): void {
  if (runCount > 0 && load<i32>(runs + <usize>(runCount * 12 - 4)) == style) return;
  if ((runCount + 1) * 12 > runCap) {
    runs = grow(runs, runCap, (runCount + 1) * 12);
    runCap = newCapacity(runCap, (runCount + 1) * 12);
  }
  const at = runs + <usize>(runCount * 12);
  store<i32>(at, bytes);
  store<i32>(at, units, 4);
  store<i32>(at, style, 8);
  runCount++;
}

export function clearText(): void {
  len = 0;
  bytes = 0;
  units = 0;
  runCount = 0;
  seamCount = 0;
  maybeEncoded = false;
}

/**
 * Copies `n` bytes of printable ASCII from p to dst in whole 16-byte blocks, the last one
 * overlapping or running into slack: the input (masker.ts, parser.ts) and the text keep 16 spare
 * bytes for it. With patterns, says whether it saw `%`, or `+` if a pattern has a space
 * (rendered.ts decodes only text that may read differently); bytes of the slack may be counted
 * too: a look, never a miss. One compare per block: 0x25 up to 0x25 or, with a space, 0x2b.
 */
@inline export function copyAscii(dst: usize, p: usize, n: i32): bool {
  let i = 0;
  if (acEmpty) {
    for (; i + 16 < n; i += 16) v128.store(dst + <usize>i, v128.load(p + <usize>i));
    v128.store(dst + <usize>i, v128.load(p + <usize>i));
    return false;
  }
  const percent = i8x16.splat(0x25);
  const upto = i8x16.splat(anySpace ? 7 : 1);
  let seen = i8x16.splat(0);
  for (; i + 16 < n; i += 16) {
    const v = v128.load(p + <usize>i);
    seen = v128.or(seen, i8x16.lt_u(i8x16.sub(v, percent), upto));
    v128.store(dst + <usize>i, v);
  }
  const v = v128.load(p + <usize>i);
  seen = v128.or(seen, i8x16.lt_u(i8x16.sub(v, percent), upto));
  v128.store(dst + <usize>i, v);
  return v128.any_true(seen);
}

/**
 * Appends printable ASCII at the end of the line; returns how many bytes it took (fewer
 * when the line reached 64 KiB: the caller emits it and continues).
 */
export function appendAscii(p: usize, n: i32): i32 {
  let take = LINE_LIMIT_BYTES - bytes;
  if (take > n) take = n;
  if (take <= 0) return 0;
  reserveText(bytes + take + 16);
  startRun(current);
  if (p != lastEnd) seam(<u32>load<u8>(p));
  lastEnd = p + <usize>take;
  if (copyAscii(text + <usize>bytes, p, take)) maybeEncoded = true;
  bytes += take;
  units += take;
  len += take;
  cursor = len;
  markUsed();
  return take;
}

/** Appends one code point at the end of the line; false when it does not fit in 64 KiB. */
export function appendCodePoint(cp: u32): bool {
  if (bytes + utf8Len(cp) > LINE_LIMIT_BYTES) return false;
  // Decoded, so not necessarily the input's bytes: a seam before, and one after.
  seam(cp < 0x80 ? cp : cp < 0x800 ? 0xc0 | (cp >> 6) : cp < 0x10000 ? 0xe0 | (cp >> 12) : 0xf0 | (cp >> 18));
  lastEnd = 0;
  if (cp == 0x25 || cp == 0x2b) maybeEncoded = true;
  appendStyled(cp, current);
  return true;
}

/** Appends one code point in `style`; the caller checked the size. */
function appendStyled(cp: u32, style: i32): void {
  reserveText(bytes + 20);
  startRun(style);
  bytes += putUtf8(text + <usize>bytes, cp);
  units += cp >= 0x10000 ? 2 : 1;
  len++;
  cursor = len;
  markUsed();
}

@inline function putUtf8(o: usize, cp: u32): i32 {
  if (cp < 0x80) {
    store<u8>(o, <u8>cp);
    return 1;
  }
  if (cp < 0x800) {
    store<u8>(o, <u8>(0xc0 | (cp >> 6)));
    store<u8>(o, <u8>(0x80 | (cp & 0x3f)), 1);
    return 2;
  }
  if (cp < 0x10000) {
    store<u8>(o, <u8>(0xe0 | (cp >> 12)));
    store<u8>(o, <u8>(0x80 | ((cp >> 6) & 0x3f)), 1);
    store<u8>(o, <u8>(0x80 | (cp & 0x3f)), 2);
    return 3;
  }
  store<u8>(o, <u8>(0xf0 | (cp >> 18)));
  store<u8>(o, <u8>(0x80 | ((cp >> 12) & 0x3f)), 1);
  store<u8>(o, <u8>(0x80 | ((cp >> 6) & 0x3f)), 2);
  store<u8>(o, <u8>(0x80 | (cp & 0x3f)), 3);
  return 4;
}

/**
 * Appends `n` cells (code points at `cps`, style ids at `sts`: cells.ts's line going back to text
 * for emitting); the caller checked the size. One style run at a time, sixteen ASCII cells per step.
 */
export function appendCells(cps: usize, sts: usize, n: i32): void {
  reserveText(bytes + n * 4 + 16);
  const nonAscii = i32x4.splat(~0x7f);
  let i = 0;
  while (i < n) {
    const st = load<i32>(sts + (<usize>i << 2));
    startRun(st);
    const sv = i32x4.splat(st);
    let j = i + 1;
    while (j + 4 <= n && i32x4.all_true(i32x4.eq(v128.load(sts + (<usize>j << 2)), sv))) j += 4;
    while (j < n && load<i32>(sts + (<usize>j << 2)) == st) j++;
    while (i < j) {
      if (i + 16 <= j) {
        const c = cps + (<usize>i << 2);
        const c0 = v128.load(c);
        const c1 = v128.load(c, 16);
        const c2 = v128.load(c, 32);
        const c3 = v128.load(c, 48);
        // Narrowing saturates as signed, so test for non-ASCII on the 32-bit lanes first.
        if (!v128.any_true(v128.and(v128.or(v128.or(c0, c1), v128.or(c2, c3)), nonAscii))) {
          v128.store(text + <usize>bytes, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(c0, c1), i16x8.narrow_i32x4_u(c2, c3)));
          bytes += 16;
          units += 16;
          i += 16;
          continue;
        }
      }
      const cp = load<u32>(cps + (<usize>i << 2));
      bytes += putUtf8(text + <usize>bytes, cp);
      units += cp >= 0x10000 ? 2 : 1;
      i++;
    }
  }
  len += n;
  cursor = len;
}

/** Replaces the line's text and runs (rendered.ts's masking); `n` bytes, `u` UTF-16 units. */
export function setText(src: usize, n: i32, u: i32, srcRuns: usize, count: i32): void {
  reserveText(n + 16);
  memory.copy(text, src, <usize>n);
  if (count * 12 > runCap) {
    runs = grow(runs, runCap, count * 12);
    runCap = newCapacity(runCap, count * 12);
  }
  memory.copy(runs, srcRuns, <usize>(count * 12));
  runCount = count;
  bytes = n;
  units = u;
}

/** Writes the line as JSON: the text (escaped) and its merged non-default style runs. */
export function emitText(): void {
  // One reservation for the line: the text escaped at worst, each run as a span (spans.ts), the ends.
  beginLine(next++, bytes, 48 + bytes * 2 + runCount * SPAN_ROOM);
  let o = outBuf + <usize>outLen;
  store<u64>(o, 0x3a2274786574222c); // `,"text":"`
  store<u8>(o, 0x22, 8);
  o += 9;
  const quote = i8x16.splat(0x22);
  const backslash = i8x16.splat(0x5c);
  let i = 0;
  while (i < bytes) {
    if (i + 16 <= bytes) {
      const v = v128.load(text + <usize>i);
      if (!v128.any_true(v128.or(i8x16.eq(v, quote), i8x16.eq(v, backslash)))) {
        v128.store(o, v);
        o += 16;
        i += 16;
        continue;
      }
    }
    else {
      // The tail: one block over the slack (this buffer keeps 16 spare bytes; so does the output).
      const v = v128.load(text + <usize>i);
      const hits = i8x16.bitmask(v128.or(i8x16.eq(v, quote), i8x16.eq(v, backslash)));
      if ((hits & ((1 << (bytes - i)) - 1)) == 0) {
        v128.store(o, v);
        o += <usize>(bytes - i);
        break;
      }
    }
    const stop = i + 16 < bytes ? i + 16 : bytes;
    for (; i < stop; i++) {
      const b = load<u8>(text + <usize>i);
      if (b == 0x22 || b == 0x5c) {
        store<u8>(o, 0x5c);
        o++;
      }
      store<u8>(o, b);
      o++;
    }
  }
  outLen = <i32>(closeLine(o, units) - outBuf);
}

/**
 * Writes the end of a line's JSON at `o`, after its text: `","spans":`, the merged non-default
 * style runs as spans (the line is `total` UTF-16 units long) and the closing brace; returns
 * where it ends. The caller reserved SPAN_ROOM bytes for each run and 32 for the rest.
 */
export function closeLine(o: usize, total: i32): usize {
  store<u64>(o, 0x736e617073222c22); // `","spans":`
  store<u16>(o, 0x3a22, 8);
  o += 10;
  // Every span starts with a comma; the first one's becomes the `[`. An offset: a long span may
  // move the output (spans.ts).
  const open = o - outBuf;
  // One pass over the runs: a run ends the span before it unless its style is the same.
  const count = runCount;
  if (count > 0) {
    let style = load<i32>(runs, 8);
    let start = load<i32>(runs, 4);
    for (let k = 1; k < count; k++) {
      const r = runs + <usize>(k * 12);
      const next = load<i32>(r, 8);
      if (same(next, style)) continue;
      const at = load<i32>(r, 4);
      if (style != 0 && at > start) o = writeSpan(o, style, start, at, count - k);
      style = next;
      start = at;
    }
    if (style != 0 && total > start) o = writeSpan(o, style, start, total, 1);
  }
  store<u8>(outBuf + open, 0x5b);
  if (o == outBuf + open) o++;
  if (cont) {
    store<u64>(o, 0x746e6f63222c5d); // `],"cont":true}`
    store<u64>(o, 0x7d657572743a22, 7);
    o += 14;
  } else {
    store<u16>(o, 0x7d5d); // `]}`
    o += 2;
  }
  return o;
}
