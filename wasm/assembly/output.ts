// The output: the JSON text of the chunks completed since the host last took them, written
// straight into linear memory for the host to decode in one go. Chunk grouping lives here.
import { grow, newCapacity } from "./buffer";
import { CHUNK_LIMIT_BYTES, CHUNK_LIMIT_LINES } from "./limits";

export let outBuf: usize = 0;
let outCap: i32 = 0;
export let outLen: i32 = 0;

let chunkOpen = false;
let anyChunk = false;
let chunkLines: i32 = 0;
let chunkBytes: i32 = 0;
let lastLine: u32 = 0;
let lastAt: i32 = 0;

/** ASCII literal as [length:i32][bytes], made once at start. */
function lit(s: string): usize {
  // Padded to whole 8-byte words: put() copies words, not bytes.
  const p = heap.alloc(<usize>(4 + ((s.length + 7) & ~7)));
  store<i32>(p, s.length);
  for (let i = 0; i < s.length; i++) store<u8>(p + 4 + <usize>i, <u8>s.charCodeAt(i));
  return p;
}

export const L_FIRST = lit('{"first":');
export const L_LAST_KEY = lit(',"last":');
export const L_FG = lit(',"fg":');
export const L_BG = lit(',"bg":');
export const L_BOLD = lit(',"bold":true');
export const L_DIM = lit(',"dim":true');
export const L_ITALIC = lit(',"italic":true');
export const L_UNDERLINE = lit(',"underline":true');
export const L_INVERSE = lit(',"inverse":true');
export const L_STRIKE = lit(',"strike":true');
export const L_HREF = lit(',"href":"');

export function resetOutput(): void {
  outLen = 0;
  ensure(1);
  store<u8>(outBuf, 0x5b);
  outLen = 1;
  anyChunk = false;
}

/** Room for `n` more bytes; callers reserve a line's worst case once, then write unchecked. */
@inline export function ensure(n: i32): void {
  if (outLen + n + SLACK > outCap) growOutput(outLen + n + SLACK);
}

function growOutput(need: i32): void {
  outBuf = grow(outBuf, outCap, need);
  outCap = newCapacity(outCap, need);
}

const SLACK = 16;

/** Appends a literal. Word copies, because memory.copy is a slow call for a few bytes in
 * some engines; the spill past the end stays inside the SLACK that ensure() keeps. */
@inline export function put(l: usize): void {
  const n = load<i32>(l);
  const dst = outBuf + <usize>outLen;
  for (let i: i32 = 0; i < n; i += 8) store<u64>(dst + <usize>i, load<u64>(l + 4 + <usize>i));
  outLen += n;
}

/** Appends `n` (≤ 8) bytes given as a little-endian word; the spill stays inside SLACK. */
@inline export function put8(w: u64, n: i32): void {
  store<u64>(outBuf + <usize>outLen, w);
  outLen += n;
}

/** Appends `n` (9..16) bytes given as two little-endian words. */
@inline export function put16(lo: u64, hi: u64, n: i32): void {
  const dst = outBuf + <usize>outLen;
  store<u64>(dst, lo);
  store<u64>(dst, hi, 8);
  outLen += n;
}

@inline export function putByte(b: u32): void {
  store<u8>(outBuf + <usize>outLen, <u8>b);
  outLen++;
}

@inline export function putU32(v: u32): void {
  outLen = <i32>(decimalAt(outBuf + <usize>outLen, v) - outBuf);
}

/** Writes `v` in decimal at `o`; returns where it ends. Span offsets are mostly one or two digits: those inline. */
@inline export function decimalAt(o: usize, v: u32): usize {
  if (v < 10) {
    store<u8>(o, <u8>(0x30 + v));
    return o + 1;
  }
  if (v < 100) {
    store<u16>(o, load<u16>(PAIRS + (<usize>v << 1)));
    return o + 2;
  }
  return wideAt(o, v);
}

function wideAt(o: usize, v: u32): usize {
  const digits = v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6 : v < 10000000 ? 7 : v < 100000000 ? 8 : v < 1000000000 ? 9 : 10;
  const end = o + <usize>digits;
  let at = end;
  let x = v;
  // Two digits per division.
  while (x >= 100) {
    const q = x / 100;
    const r = x - q * 100;
    at -= 2;
    store<u16>(at, load<u16>(PAIRS + (<usize>r << 1)));
    x = q;
  }
  if (x >= 10) {
    at -= 2;
    store<u16>(at, load<u16>(PAIRS + (<usize>x << 1)));
  } else store<u8>(at - 1, <u8>(0x30 + x));
  return end;
}

// Line numbers go up by one per line: their decimal digits are kept in one word (the first digit
// in the low byte) and incremented there. Byte stores then a word load would stall the store buffer.
let digits: u64 = 0;
let digitsValue: u32 = 0;
/** 0 when not kept: the first line, or nine digits and more. */
let digitsLen: i32 = 0;

/** Counts `digits` up by one; false when it would need a ninth digit. */
@inline function incrementDigits(): bool {
  let shift = <u64>((digitsLen - 1) << 3);
  let w = digits;
  while (true) {
    if (((w >> shift) & 0xff) != 0x39) {
      digits = w + (<u64>1 << shift);
      return true;
    }
    w ^= <u64>0x09 << shift; // '9' → '0'
    if (shift == 0) break;
    shift -= 8;
  }
  if (digitsLen == 8) return false;
  digits = (w << 8) | 0x31;
  digitsLen++;
  return true;
}

/** Writes line number `n` at `o`; returns where it ends. */
@inline function lineNumberAt(o: usize, n: u32): usize {
  if (digitsLen == 0 || n != digitsValue + 1 || !incrementDigits()) {
    if (n >= 100000000) {
      digitsLen = 0;
      digitsValue = n;
      return decimalAt(o, n);
    }
    digitsLen = 0;
    let w: u64 = 0;
    let x = n;
    do {
      w = (w << 8) | <u64>(0x30 + x % 10);
      x /= 10;
      digitsLen++;
    } while (x > 0);
    digits = w;
  }
  digitsValue = n;
  store<u64>(o, digits);
  return o + <usize>digitsLen;
}

/** "00" .. "99" as 200 bytes. */
const PAIRS: usize = makePairs();
function makePairs(): usize {
  const p = heap.alloc(200);
  for (let i = 0; i < 100; i++) {
    store<u8>(p + <usize>(i * 2), <u8>(0x30 + i / 10));
    store<u8>(p + <usize>(i * 2 + 1), <u8>(0x30 + (i % 10)));
  }
  return p;
}

/**
 * Opens the line's place in a chunk, closing the current chunk when the line would not fit, and
 * writes the line's `{"n":` and number; `room` more bytes may then be written unchecked.
 */
export function beginLine(n: u32, textBytes: i32, room: i32): void {
  ensure(room + 80);
  if (chunkOpen && (chunkLines >= CHUNK_LIMIT_LINES || chunkBytes + textBytes > CHUNK_LIMIT_BYTES)) closeChunk();
  if (!chunkOpen) {
    if (anyChunk) putByte(0x2c);
    put(L_FIRST);
    putU32(n);
    // `last` is not known yet: ten spaces are kept for it and filled in by closeChunk, so
    // the keys come in the contract's order. JSON does not mind the padding.
    put(L_LAST_KEY);
    lastAt = outLen;
    for (let i = 0; i < 10; i++) putByte(0x20);
    // `,"lines":[{"n":`: the line's own `{"n":` comes with it.
    put16(0x2273656e696c222c, 0x3a226e227b5b3a, 15);
    chunkOpen = true;
    anyChunk = true;
    chunkLines = 0;
    chunkBytes = 0;
  } else put8(0x3a226e227b2c, 6); // `,{"n":`
  chunkLines++;
  chunkBytes += textBytes;
  lastLine = n;
  outLen = <i32>(lineNumberAt(outBuf + <usize>outLen, n) - outBuf);
}

/**
 * Whether the next line can go straight into the open chunk (ground.ts's whole lines): the
 * chunk is open with room for one more line; its size is checked when the line is done.
 */
@inline export function chunkTakesLine(): bool {
  return chunkOpen && chunkLines < CHUNK_LIMIT_LINES;
}

/** Whether a line of `textBytes` still fits in the open chunk (else beginLine closes it first). */
@inline export function chunkFits(textBytes: i32): bool {
  return chunkBytes + textBytes <= CHUNK_LIMIT_BYTES;
}

/** Writes `,{"n":` and line number `n` at `o` (the open chunk has lines); returns where it ends. */
@inline export function lineHeadAt(o: usize, n: u32): usize {
  store<u64>(o, 0x3a226e227b2c); // `,{"n":`
  return lineNumberAt(o + 6, n);
}

/** A line written at the end of the output up to `o` (after chunkTakesLine and chunkFits). */
@inline export function lineWritten(o: usize, n: u32, textBytes: i32): void {
  outLen = <i32>(o - outBuf);
  chunkLines++;
  chunkBytes += textBytes;
  lastLine = n;
}

function closeChunk(): void {
  ensure(32);
  putByte(0x5d);
  putByte(0x7d);
  const end = outLen;
  outLen = lastAt;
  putU32(lastLine);
  outLen = end;
  chunkOpen = false;
}

/** Closes the open chunk and the array; returns the JSON's length (at outBuf). */
export function takeOutput(): i32 {
  if (chunkOpen) closeChunk();
  ensure(1);
  putByte(0x5d);
  return outLen;
}
