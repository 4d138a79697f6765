// Masking of what a viewer reads: a line's rendered text (after the ANSI state machine) and a link's
// target, scanned with the same automaton as the raw bytes, so a secret with an escape sequence, a
// dropped control or an overwrite in its middle is still masked. Text holding `+` or a `%XX` escape
// is scanned a second time percent-decoded (`%XX` in either case → the byte, `+` → space), so any mix
// of encoded and literal bytes is found. Mirrored in wasm/assembly/rendered.ts.
import { canonical, hexValue as hex } from "../derive.ts";
import type { Automaton } from "./automaton.ts";

const PLUS = 0x2b;

/** Every occurrence in bytes[0, n) as [start, end] pairs (inclusive), in the order found. */
function occurrences(ac: Automaton, bytes: Uint8Array, n: number, out: number[]): void {
  let s = 0;
  for (let i = 0; i < n; i++) {
    s = ac.step(s, bytes[i]);
    const hit = ac.out[s];
    if (hit > 0) out.push(i - hit + 1, i);
  }
}

/** Whether the percent-decoded form of bytes[0, n) differs from the bytes (a `+` or a `%XX`). */
function encoded(bytes: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) {
    if (bytes[i] === PLUS) return true;
    if (bytes[i] === 0x25 && i + 2 < n && hex(bytes[i + 1]) >= 0 && hex(bytes[i + 2]) >= 0) return true;
  }
  return false;
}

const STAR = 0x2a;
const MASK_LEN = 8;

/**
 * `%X` right before a mask: a mask of the raw bytes that began on an escape's second hex digit (a
 * secret, or its encoded form, starting with that digit), which left half the escape outside it and
 * the secret's encoded form broken for the decoded scan. The half escape is masked with the mask.
 */
function halfEscapes(bytes: Uint8Array, n: number, out: number[]): void {
  for (let i = 0; i + 2 + MASK_LEN <= n; i++) {
    if (bytes[i] !== 0x25 || hex(bytes[i + 1]) < 0) continue;
    let stars = 0;
    while (stars < MASK_LEN && bytes[i + 2 + stars] === STAR) stars++;
    if (stars === MASK_LEN) out.push(i, i + 1 + MASK_LEN);
  }
}

/**
 * The masked byte ranges of bytes[0, n): every occurrence of every pattern, literal or percent-
 * decoded, and every half escape before a mask, widened to whole UTF-8 characters, overlapping ones merged (touching ones stay apart),
 * as sorted [start, end] pairs (inclusive).
 */
export function maskedRanges(ac: Automaton, bytes: Uint8Array, n: number): number[] {
  if (ac.empty) return [];
  const found: number[] = [];
  occurrences(ac, bytes, n, found);
  if (encoded(bytes, n)) {
    const decoded = new Uint8Array(n);
    const from = new Int32Array(n);
    const to = new Int32Array(n);
    let m = 0;
    for (let i = 0; i < n; m++) {
      from[m] = i;
      if (bytes[i] === 0x25 && i + 2 < n && hex(bytes[i + 1]) >= 0 && hex(bytes[i + 2]) >= 0) {
        decoded[m] = canonical(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
        i += 3;
      } else decoded[m] = canonical(bytes[i++]);
      to[m] = i - 1;
    }
    const hits: number[] = [];
    occurrences(ac, decoded, m, hits);
    for (let k = 0; k < hits.length; k += 2) found.push(from[hits[k]], to[hits[k + 1]]);
  }
  halfEscapes(bytes, n, found);
  if (found.length === 0) return [];
  const ranges: [number, number][] = [];
  for (let k = 0; k < found.length; k += 2) {
    let s = found[k];
    let e = found[k + 1];
    while (s > 0 && (bytes[s] & 0xc0) === 0x80) s--;
    while (e + 1 < n && (bytes[e + 1] & 0xc0) === 0x80) e++;
    ranges.push([s, e]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: number[] = [];
  for (const [s, e] of ranges) {
    const last = merged.length - 1;
    if (last > 0 && s <= merged[last]) merged[last] = Math.max(merged[last], e);
    else merged.push(s, e);
  }
  return merged;
}

/** bytes[0, n) with each masked range replaced by `mask`; the same array when nothing matched. */
export function maskBytes(ac: Automaton, bytes: Uint8Array, n: number, mask: Uint8Array): Uint8Array {
  const ranges = maskedRanges(ac, bytes, n);
  if (ranges.length === 0) return bytes.subarray(0, n);
  const out: number[] = [];
  let at = 0;
  for (let k = 0; k < ranges.length; k += 2) {
    for (let i = at; i < ranges[k]; i++) out.push(bytes[i]);
    for (const b of mask) out.push(b);
    at = ranges[k + 1] + 1;
  }
  for (let i = at; i < n; i++) out.push(bytes[i]);
  return Uint8Array.from(out);
}
