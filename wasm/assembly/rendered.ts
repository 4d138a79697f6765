// Masking of what a viewer reads: a line's rendered text and a link's target, scanned with the
// secrets' automaton (and percent-decoded when they hold `+` or a `%XX` escape). Mirror of
// wasm/reference/rendered.ts; see it for the rules.
import { acEmpty, anySpace, depth, longest, mayStart, out, step, stride } from "./automaton";
import { grow, newCapacity } from "./buffer";
import { bytes } from "./linestate";
import { maybeEncoded, runCount, runs, seamCount, seams, setText, text } from "./text";

const STAR: u8 = 0x2a;
const MASK_LEN: i32 = 8;

// Occurrences as (start, end) i32 pairs, in the order found.
let found: usize = 0;
let foundCap: i32 = 0;
let foundCount: i32 = 0;
// Masked ranges as (start, end) i32 pairs, sorted, overlapping ones merged.
let ranges: usize = 0;
let rangesCap: i32 = 0;
let rangeCount: i32 = 0;
// The percent-decoded text, and each decoded byte's first and last byte in the text.
let decoded: usize = 0;
let decodedFrom: usize = 0;
let decodedTo: usize = 0;
let decodedCap: i32 = 0;
// The masked line being rebuilt: text and (byte start, unit start, style) runs.
let outText: usize = 0;
let outTextCap: i32 = 0;
let outRuns: usize = 0;
let outRunsCap: i32 = 0;

function addFound(start: i32, end: i32): void {
  if ((foundCount + 1) * 8 > foundCap) {
    found = grow(found, foundCap, (foundCount + 1) * 8);
    foundCap = newCapacity(foundCap, (foundCount + 1) * 8);
  }
  store<i32>(found + (<usize>foundCount << 3), start);
  store<i32>(found + (<usize>foundCount << 3), end, 4);
  foundCount++;
}

/** Every occurrence in [p, p + n), skipping with the 4-gram filter as the masker does. */
function occurrences(p: usize, n: i32): void {
  let i = 0;
  while (true) {
    const k = stride;
    let j = i;
    while (j + 4 <= n && !mayStart(load<u32>(p + <usize>j))) j += k;
    let q = j - k + 1;
    if (q < i) q = i;
    if (j + 4 > n) {
      while (q + 4 <= n && !mayStart(load<u32>(p + <usize>q))) q++;
      if (q + 4 > n) return;
    }
    const entry = q;
    let s = 0;
    let skipped = false;
    while (q < n) {
      s = step(s, <i32>load<u8>(p + <usize>q));
      const hit = load<i32>(out + (<usize>s << 2));
      if (hit > 0) addFound(q - hit + 1, q);
      const d = load<i32>(depth + (<usize>s << 2));
      q++;
      if (d <= 3 && q - d > entry) {
        q -= d;
        skipped = true;
        break;
      }
    }
    if (!skipped) return;
    i = q;
  }
}

@inline function hexValue(b: i32): i32 {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
}

@inline function escapeAt(p: usize, i: i32, n: i32): bool {
  return load<u8>(p + <usize>i) == 0x25 && i + 2 < n && hexValue(load<u8>(p + <usize>i + 1)) >= 0 && hexValue(load<u8>(p + <usize>i + 2)) >= 0;
}

const NOT_ENCODED = 0;
const PLUS_ONLY = 1;
const ESCAPED = 2;

/**
 * How [p, p + n) reads percent-decoded: the same, with `+` as space only, or with `%XX` escapes;
 * 16 bytes at a time (the line's text and the link buffer keep 16 spare bytes for the last block).
 */
function encoding(p: usize, n: i32): i32 {
  const plus = i8x16.splat(0x2b);
  const percent = i8x16.splat(0x25);
  let found = NOT_ENCODED;
  for (let i = 0; i < n; i += 16) {
    const v = v128.load(p + <usize>i);
    let hits = i8x16.bitmask(v128.or(i8x16.eq(v, plus), i8x16.eq(v, percent)));
    if (n - i < 16) hits &= (1 << (n - i)) - 1;
    while (hits != 0) {
      const j = i + <i32>ctz(hits);
      if (escapeAt(p, j, n)) return ESCAPED;
      if (load<u8>(p + <usize>j) == 0x2b) found = PLUS_ONLY;
      hits &= hits - 1;
    }
  }
  return found;
}

function reserveDecoded(n: i32): void {
  if (n + 16 <= decodedCap) return;
  const size = newCapacity(decodedCap, n + 16);
  decoded = grow(decoded, 0, size);
  decodedFrom = grow(decodedFrom, 0, size << 2);
  decodedTo = grow(decodedTo, 0, size << 2);
  decodedCap = size;
}

/** Only `+` to decode: the same positions, so occurrences map back as they are. */
function plusOccurrences(p: usize, n: i32): void {
  reserveDecoded(n);
  const plus = i8x16.splat(0x2b);
  const space = i8x16.splat(0x20);
  for (let i = 0; i < n; i += 16) {
    const v = v128.load(p + <usize>i);
    v128.store(decoded + <usize>i, v128.bitselect(space, v, i8x16.eq(v, plus)));
  }
  occurrences(decoded, n);
}

/** The decoded scan: occurrences in the percent-decoded bytes, as ranges of the original ones. */
function decodedOccurrences(p: usize, n: i32): void {
  reserveDecoded(n);
  let m = 0;
  let i = 0;
  while (i < n) {
    store<i32>(decodedFrom + (<usize>m << 2), i);
    let b: i32;
    if (escapeAt(p, i, n)) {
      b = (hexValue(load<u8>(p + <usize>i + 1)) << 4) | hexValue(load<u8>(p + <usize>i + 2));
      i += 3;
    } else b = <i32>load<u8>(p + <usize>(i++));
    store<u8>(decoded + <usize>m, <u8>(b == 0x2b ? 0x20 : b));
    store<i32>(decodedTo + (<usize>m << 2), i - 1);
    m++;
  }
  const before = foundCount;
  occurrences(decoded, m);
  for (let k = before; k < foundCount; k++) {
    const at = found + (<usize>k << 3);
    store<i32>(at, load<i32>(decodedFrom + (<usize>load<i32>(at) << 2)));
    store<i32>(at, load<i32>(decodedTo + (<usize>load<i32>(at, 4) << 2)), 4);
  }
}

/** `%X` right before a mask: masked with it (reference/rendered.ts, halfEscapes, says why). */
function halfEscapes(p: usize, n: i32): void {
  const percent = i8x16.splat(0x25);
  for (let i = 0; i + 2 + MASK_LEN <= n; i += 16) {
    let hits = i8x16.bitmask(i8x16.eq(v128.load(p + <usize>i), percent));
    while (hits != 0) {
      const j = i + <i32>ctz(hits);
      hits &= hits - 1;
      if (j + 2 + MASK_LEN > n || hexValue(load<u8>(p + <usize>j + 1)) < 0) continue;
      let stars = 0;
      while (stars < MASK_LEN && load<u8>(p + <usize>(j + 2 + stars)) == STAR) stars++;
      if (stars == MASK_LEN) addFound(j, j + 1 + MASK_LEN);
    }
  }
}

@inline function rangeStart(k: i32): i32 {
  return load<i32>(ranges + (<usize>k << 3));
}

@inline function rangeEnd(k: i32): i32 {
  return load<i32>(ranges + (<usize>k << 3), 4);
}

/** Inserts [start, end] into the sorted ranges, merging the ones it overlaps (as the masker does). */
function addRange(start: i32, end: i32): void {
  let s = start;
  let e = end;
  let k = rangeCount;
  while (k > 0 && rangeStart(k - 1) > e) k--;
  let j = k;
  while (j > 0 && rangeEnd(j - 1) >= s) {
    j--;
    if (rangeStart(j) < s) s = rangeStart(j);
    if (rangeEnd(j) > e) e = rangeEnd(j);
  }
  const count = rangeCount - (k - j) + 1;
  if (count * 8 > rangesCap) {
    ranges = grow(ranges, rangesCap, count * 8);
    rangesCap = newCapacity(rangesCap, count * 8);
  }
  memory.copy(ranges + (<usize>(j + 1) << 3), ranges + (<usize>k << 3), <usize>(rangeCount - k) << 3);
  store<i32>(ranges + (<usize>j << 3), s);
  store<i32>(ranges + (<usize>j << 3), e, 4);
  rangeCount = count;
}

/** Occurrences in [p + from, p + to), in p's offsets. */
function occurrencesIn(p: usize, from: i32, to: i32): void {
  const before = foundCount;
  occurrences(p + <usize>from, to - from);
  for (let k = before; k < foundCount; k++) {
    const at = found + (<usize>k << 3);
    store<i32>(at, load<i32>(at) + from);
    store<i32>(at, load<i32>(at, 4) + from, 4);
  }
}

/**
 * The occurrences in the line's text that cross a seam (text.ts, which notes only seams whose two
 * bytes occur together in some pattern): everywhere else the text is the input's bytes, which the
 * masker already masked. Every window a pattern crossing a seam could lie in is scanned.
 */
function seamOccurrences(p: usize, n: i32): void {
  let from = -1;
  let to = -1;
  for (let k = 0; k < seamCount; k++) {
    const t = load<i32>(seams + (<usize>k << 2));
    const start = t - longest + 1 > 0 ? t - longest + 1 : 0;
    const end = t + longest - 1 < n ? t + longest - 1 : n;
    if (to >= 0 && start <= to) {
      to = end;
      continue;
    }
    if (to >= 0) occurrencesIn(p, from, to);
    from = start;
    to = end;
  }
  if (to >= 0) occurrencesIn(p, from, to);
}

/** The masked ranges of [p, p + n) into `ranges`; returns how many. `seamsOnly`: see seamOccurrences. */
function findRanges(p: usize, n: i32, seamsOnly: bool): i32 {
  foundCount = 0;
  rangeCount = 0;
  if (acEmpty) return 0;
  if (seamsOnly) seamOccurrences(p, n);
  else occurrences(p, n);
  // Decoding `+` alone can only add a match through a pattern with a space in it (text.ts notes
  // `+` only then).
  const how = seamsOnly && !maybeEncoded ? NOT_ENCODED : encoding(p, n);
  if (how == ESCAPED) decodedOccurrences(p, n);
  else if (how == PLUS_ONLY && anySpace) plusOccurrences(p, n);
  // A line's `%` sets maybeEncoded; a link target is always scanned whole.
  if (!seamsOnly || maybeEncoded) halfEscapes(p, n);
  for (let k = 0; k < foundCount; k++) {
    // Whole UTF-8 characters only.
    let s = load<i32>(found + (<usize>k << 3));
    let e = load<i32>(found + (<usize>k << 3), 4);
    while (s > 0 && (load<u8>(p + <usize>s) & 0xc0) == 0x80) s--;
    while (e + 1 < n && (load<u8>(p + <usize>e + 1) & 0xc0) == 0x80) e++;
    addRange(s, e);
  }
  return rangeCount;
}

/** Copies [src, src + n) to dst with every masked range replaced; returns the length written. */
export function maskInto(src: usize, n: i32, dst: usize): i32 {
  const count = findRanges(src, n, false);
  let o = dst;
  let at = 0;
  for (let k = 0; k < count; k++) {
    memory.copy(o, src + <usize>at, <usize>(rangeStart(k) - at));
    o += <usize>(rangeStart(k) - at);
    memory.fill(o, STAR, <usize>MASK_LEN);
    o += <usize>MASK_LEN;
    at = rangeEnd(k) + 1;
  }
  memory.copy(o, src + <usize>at, <usize>(n - at));
  return <i32>(o - dst) + n - at;
}

// The line's rebuild: runs are (byte start, unit start, style) triples, as in text.ts.
let newBytes: i32 = 0;
let newUnits: i32 = 0;
let newRunCount: i32 = 0;

function addRun(style: i32): void {
  if (newRunCount > 0 && load<i32>(outRuns + <usize>(newRunCount * 12 - 4)) == style) return;
  if ((newRunCount + 1) * 12 > outRunsCap) {
    outRuns = grow(outRuns, outRunsCap, (newRunCount + 1) * 12);
    outRunsCap = newCapacity(outRunsCap, (newRunCount + 1) * 12);
  }
  const at = outRuns + <usize>(newRunCount * 12);
  store<i32>(at, newBytes);
  store<i32>(at, newUnits, 4);
  store<i32>(at, style, 8);
  newRunCount++;
}

@inline function runStart(r: i32): i32 {
  return load<i32>(runs + <usize>(r * 12));
}

@inline function runStyle(r: i32): i32 {
  return load<i32>(runs + <usize>(r * 12), 8);
}

/**
 * Set when the masker's patterns change: text appended before was not masked with them, so the
 * line is scanned whole, as is one that was kept as cells (overwritten text has no stretches).
 */
export let scanWholeLine = false;

/**
 * maskText's test for a line whose text was written elsewhere (n bytes at p: ground.ts's whole
 * lines, in the output): whether anything in it is to be masked. When nothing is, the line is
 * done with as maskText would be; when something is, maskText must still run on it.
 */
export function anyToMask(p: usize, n: i32): bool {
  if (findRanges(p, n, !scanWholeLine) > 0) return true;
  scanWholeLine = false;
  return false;
}

/**
 * Masks the line being emitted (text.ts's representation): each masked range becomes `********` in
 * the style of its first character. Nothing is touched when nothing matched.
 */
export function maskText(whole: bool): void {
  // One stretch of input with nothing to decode: the masker saw it all (the common plain line).
  if (!whole && !scanWholeLine && seamCount == 0 && !maybeEncoded) return;
  const count = findRanges(text, bytes, !(whole || scanWholeLine));
  scanWholeLine = false;
  if (count == 0) return;
  const need = bytes + count * MASK_LEN + 16;
  if (need > outTextCap) {
    outText = grow(outText, 0, need);
    outTextCap = newCapacity(0, need);
  }
  newBytes = 0;
  newUnits = 0;
  newRunCount = 0;
  let r = 0;
  let at = 0;
  for (let k = 0; k <= count; k++) {
    const stop = k < count ? rangeStart(k) : bytes;
    // The unmasked bytes [at, stop), with the runs that start among them.
    if (stop > at) {
      while (r + 1 < runCount && runStart(r + 1) <= at) r++;
      addRun(runStyle(r));
      for (let i = at; i < stop; i++) {
        if (r + 1 < runCount && runStart(r + 1) == i) addRun(runStyle(++r));
        const b = load<u8>(text + <usize>i);
        store<u8>(outText + <usize>(newBytes++), b);
        if ((b & 0xc0) != 0x80) newUnits += b >= 0xf0 ? 2 : 1;
      }
    }
    if (k == count) break;
    while (r + 1 < runCount && runStart(r + 1) <= stop) r++;
    addRun(runStyle(r));
    memory.fill(outText + <usize>newBytes, STAR, <usize>MASK_LEN);
    newBytes += MASK_LEN;
    newUnits += MASK_LEN;
    at = rangeEnd(k) + 1;
  }
  setText(outText, newBytes, newUnits, outRuns, newRunCount);
}
