// Streaming secret masker on raw bytes. Mirror of wasm/reference/masker.ts; see it for the
// reasoning. The input buffer is this module's: the host writes each push right after the
// bytes still held back, so nothing is copied on the way in.
import { acEmpty, bloom, bloomShift, depth, inFilter, isPrefix, mayStart, out, step, stride } from "./automaton";
import { grow, newCapacity } from "./buffer";
import { feed, feedMask } from "./parser";
import { breakStretch } from "./text";

const SKIP = 0;
const SCAN = 1;

let buf: usize = 0;
let cap: i32 = 0;
let len: i32 = 0;
let pos: i32 = 0;
let mode = SKIP;
let state: i32 = 0;
let entry: i32 = 0;
// Pending masked intervals as (start, end) i32 pairs, sorted and disjoint.
let iv: usize = 0;
let ivCap: i32 = 0;
let ivCount: i32 = 0;

/** Makes room for `n` more input bytes and returns where the host should write them. */
export function reserve(n: i32): usize {
  // 16 spare bytes: the parser reads input in whole v128 blocks (see text.ts appendAscii).
  if (len + n + 16 > cap) {
    buf = grow(buf, cap, len + n + 16);
    cap = newCapacity(cap, len + n + 16);
  }
  return buf + <usize>len;
}

export function resetScan(): void {
  if (mode == SCAN) pos -= load<i32>(depth + (<usize>state << 2));
  mode = SKIP;
  state = 0;
}

/** Processes the `n` bytes the host wrote at reserve(n). */
export function pushInput(n: i32): void {
  breakStretch();
  if (acEmpty && len == 0) {
    feed(buf, buf + <usize>n);
    return;
  }
  len += n;
  scan();
  release(mode == SKIP ? pos : pos - load<i32>(depth + (<usize>state << 2)));
}

export function flushInput(): void {
  breakStretch();
  release(len);
  mode = SKIP;
  state = 0;
  pos = 0;
  len = 0;
}

function scan(): void {
  const n = len;
  let p = pos;
  while (true) {
    if (mode == SKIP) {
      const k = stride;
      const filter = bloom;
      const shift = bloomShift;
      const at = buf;
      let i = p;
      while (i + 4 <= n && !inFilter(filter, shift, load<u32>(at + <usize>i))) i += k;
      const back = i - k + 1;
      if (back > p) p = back;
      if (i + 4 > n) {
        while (p + 4 <= n && !mayStart(load<u32>(buf + <usize>p))) p++;
        if (p + 4 > n) {
          while (p < n && !isPrefix(buf + <usize>p, buf + <usize>n)) p++;
          break;
        }
      }
      mode = SCAN;
      state = 0;
      entry = p;
    }
    let s = state;
    while (p < n) {
      s = step(s, <i32>load<u8>(buf + <usize>p));
      const hit = load<i32>(out + (<usize>s << 2));
      if (hit > 0) addInterval(p - hit + 1, p);
      const d = load<i32>(depth + (<usize>s << 2));
      p++;
      // Back to skipping once the live prefix is shorter than any pattern and has moved on.
      if (d <= 3 && p - d > entry) {
        p -= d;
        mode = SKIP;
        break;
      }
    }
    state = s;
    if (mode == SCAN) break;
  }
  pos = p;
}

@inline function ivStart(k: i32): i32 {
  return load<i32>(iv + (<usize>k << 3));
}

@inline function ivEnd(k: i32): i32 {
  return load<i32>(iv + (<usize>k << 3), 4);
}

function addInterval(start: i32, end: i32): void {
  let s = start;
  let e = end;
  let k = ivCount;
  while (k > 0 && ivStart(k - 1) > e) k--;
  let j = k;
  while (j > 0 && ivEnd(j - 1) >= s) {
    j--;
    if (ivStart(j) < s) s = ivStart(j);
    if (ivEnd(j) > e) e = ivEnd(j);
  }
  // Replace [j, k) by the merged interval.
  const count = ivCount - (k - j) + 1;
  if (count * 8 > ivCap) {
    iv = grow(iv, ivCap, count * 8);
    ivCap = newCapacity(ivCap, count * 8);
  }
  memory.copy(iv + (<usize>(j + 1) << 3), iv + (<usize>k << 3), <usize>(ivCount - k) << 3);
  store<i32>(iv + (<usize>j << 3), s);
  store<i32>(iv + (<usize>j << 3), e, 4);
  ivCount = count;
}

/** Emits bytes before `boundary` (no future match can reach them) and shifts the rest down. */
function release(boundary: i32): void {
  let from = 0;
  let k = 0;
  while (k < ivCount && ivEnd(k) < boundary) {
    if (ivStart(k) > from) feed(buf + <usize>from, buf + <usize>ivStart(k));
    feedMask();
    from = ivEnd(k) + 1;
    k++;
  }
  if (k > 0) {
    memory.copy(iv, iv + (<usize>k << 3), <usize>(ivCount - k) << 3);
    ivCount -= k;
  }
  let stop = boundary;
  if (ivCount > 0 && ivStart(0) < stop) stop = ivStart(0);
  if (stop > from) {
    feed(buf + <usize>from, buf + <usize>stop);
    from = stop;
  }
  if (from == 0) return;
  memory.copy(buf, buf + <usize>from, <usize>(len - from));
  len -= from;
  pos -= from;
  entry -= from;
  for (let i = 0; i < ivCount; i++) {
    store<i32>(iv + (<usize>i << 3), ivStart(i) - from);
    store<i32>(iv + (<usize>i << 3), ivEnd(i) - from, 4);
  }
}
