// Aho–Corasick automaton over the secret patterns with a 4-gram Bloom prefilter.
// Mirror of wasm/reference/automaton.ts; see it for the reasoning.
import { grow, newCapacity } from "./buffer";
import { HASH_MUL } from "./limits";

export let acEmpty = true;
export let longest: i32 = 0;
/** Whether a pattern holds a space: only then can `+` (a space percent-decoded) start a match. */
export let anySpace = false;
/** Bitmap of the byte pairs that occur in some pattern (65,536 bits). */
const pairs: usize = heap.alloc(8192);
/** Every stride-th 4-gram is looked up (see wasm/reference/automaton.ts). */
export let stride: i32 = 1;
const MAX_STRIDE = 32;
export let bloom: usize = 0;
export let bloomShift: u32 = 32;
/** 256 × i32 direct root transitions. */
let rootNext: usize = 0;
/** Goto pairs (key, child), open addressing, key = (state << 8 | byte) + 1. */
let table: usize = 0;
let tableMask: u32 = 0;
let tableShift: u32 = 32;
let fail: usize = 0;
export let depth: usize = 0;
export let out: usize = 0;

// Patterns waiting for the next build: bytes back to back, with (offset, length) pairs.
let patBytes: usize = 0;
let patBytesLen: i32 = 0;
let patBytesCap: i32 = 0;
let patIndex: usize = 0;
let patCount: i32 = 0;
let patIndexCap: i32 = 0;

export function addPattern(src: usize, len: i32): void {
  if (patBytesLen + len > patBytesCap) {
    patBytes = grow(patBytes, patBytesCap, patBytesLen + len);
    patBytesCap = newCapacity(patBytesCap, patBytesLen + len);
  }
  memory.copy(patBytes + <usize>patBytesLen, src, <usize>len);
  if ((patCount + 1) * 8 > patIndexCap) {
    patIndex = grow(patIndex, patIndexCap, (patCount + 1) * 8);
    patIndexCap = newCapacity(patIndexCap, (patCount + 1) * 8);
  }
  store<i32>(patIndex + <usize>(patCount * 8), patBytesLen);
  store<i32>(patIndex + <usize>(patCount * 8) + 4, len);
  patBytesLen += len;
  patCount++;
}

function free(p: usize): void {
  if (p != 0) heap.free(p);
}

function allocZero(bytes: i32): usize {
  const p = heap.alloc(<usize>bytes);
  memory.fill(p, 0, <usize>bytes);
  return p;
}

@inline function insert(state: i32, byte: i32, child: i32): void {
  const key = ((state << 8) | byte) + 1;
  let h = (<u32>key * HASH_MUL) >>> tableShift;
  while (load<i32>(table + (<usize>h << 3)) != 0) h = (h + 1) & tableMask;
  store<i32>(table + (<usize>h << 3), key);
  store<i32>(table + (<usize>h << 3) + 4, child);
}

@inline function child(state: i32, byte: i32): i32 {
  const key = ((state << 8) | byte) + 1;
  let h = (<u32>key * HASH_MUL) >>> tableShift;
  while (true) {
    const at = table + (<usize>h << 3);
    const k = load<i32>(at);
    if (k == key) return load<i32>(at, 4);
    if (k == 0) return -1;
    h = (h + 1) & tableMask;
  }
  return -1;
}

/** The automaton's transition (goto with failure fallback). */
@inline export function step(state: i32, byte: i32): i32 {
  let s = state;
  while (s != 0) {
    const c = child(s, byte);
    if (c >= 0) return c;
    s = load<i32>(fail + (<usize>s << 2));
  }
  return load<i32>(rootNext + (<usize>byte << 2));
}

/** Whether [p, end) is a prefix of some pattern (walks the trie, no failure links). */
export function isPrefix(p: usize, end: usize): bool {
  let s = load<i32>(rootNext + (<usize>load<u8>(p) << 2));
  for (let q = p + 1; s != 0 && q < end; q++) {
    s = child(s, <i32>load<u8>(q));
    if (s < 0) s = 0;
  }
  return s != 0;
}

/** Whether bytes `first` then `second` occur next to each other in some pattern. */
@inline export function inPair(first: u32, second: u32): bool {
  const pair = first | (second << 8);
  return (load<u8>(pairs + <usize>(pair >> 3)) & (<u8>1 << <u8>(pair & 7))) != 0;
}

@inline export function mayStart(gram: u32): bool {
  return inFilter(bloom, bloomShift, gram);
}

/** mayStart with the filter's address and shift in the caller's locals: a loop's, not reloaded each step. */
@inline export function inFilter(filter: usize, shift: u32, gram: u32): bool {
  const h = (gram * HASH_MUL) >>> shift;
  return (load<u8>(filter + <usize>(h >>> 3)) & (<u8>1 << <u8>(h & 7))) != 0;
}

/** Rebuilds the automaton from every pattern added so far. */
export function build(): void {
  free(bloom);
  free(table);
  free(fail);
  free(depth);
  free(out);
  if (rootNext == 0) rootNext = heap.alloc(1024);
  memory.fill(rootNext, 0, 1024);
  acEmpty = patCount == 0;
  longest = 0;
  anySpace = false;
  memory.fill(pairs, 0, 8192);
  let total = 1;
  for (let i = 0; i < patCount; i++) total += load<i32>(patIndex + <usize>(i * 8), 4);
  const label = allocZero(total);
  const firstChild = heap.alloc(<usize>total << 2);
  const nextSibling = heap.alloc(<usize>total << 2);
  memory.fill(firstChild, 0xff, <usize>total << 2);
  memory.fill(nextSibling, 0xff, <usize>total << 2);
  depth = allocZero(total << 2);
  const own = allocZero(total << 2);
  let states = 1;
  let shortest = 0x7fffffff;
  for (let i = 0; i < patCount; i++) {
    const l = load<i32>(patIndex + <usize>(i * 8), 4);
    if (l < shortest) shortest = l;
  }
  stride = shortest - 3;
  if (stride > MAX_STRIDE) stride = MAX_STRIDE;
  if (stride < 1) stride = 1;
  let bloomBits = 12;
  while (bloomBits < 24 && 1 << bloomBits < patCount * stride * 64) bloomBits++;
  bloom = allocZero(1 << (bloomBits - 3));
  bloomShift = <u32>(32 - bloomBits);
  for (let i = 0; i < patCount; i++) {
    const p = patBytes + <usize>load<i32>(patIndex + <usize>(i * 8));
    const len = load<i32>(patIndex + <usize>(i * 8), 4);
    if (len > longest) longest = len;
    for (let j = 0; j < len; j++) {
      if (load<u8>(p + <usize>j) == 0x20) anySpace = true;
      if (j + 1 < len) {
        const pair = <u32>load<u16>(p + <usize>j);
        store<u8>(pairs + <usize>(pair >> 3), load<u8>(pairs + <usize>(pair >> 3)) | (<u8>1 << <u8>(pair & 7)));
      }
    }
    for (let o = 0; o < stride; o++) {
      const h = (load<u32>(p + <usize>o) * HASH_MUL) >>> bloomShift;
      store<u8>(bloom + <usize>(h >>> 3), load<u8>(bloom + <usize>(h >>> 3)) | (<u8>1 << <u8>(h & 7)));
    }
    let s = 0;
    for (let j = 0; j < len; j++) {
      const b = load<u8>(p + <usize>j);
      let c = load<i32>(firstChild + (<usize>s << 2));
      while (c >= 0 && load<u8>(label + <usize>c) != b) c = load<i32>(nextSibling + (<usize>c << 2));
      if (c < 0) {
        c = states++;
        store<u8>(label + <usize>c, b);
        store<i32>(depth + (<usize>c << 2), load<i32>(depth + (<usize>s << 2)) + 1);
        store<i32>(nextSibling + (<usize>c << 2), load<i32>(firstChild + (<usize>s << 2)));
        store<i32>(firstChild + (<usize>s << 2), c);
      }
      s = c;
    }
    store<i32>(own + (<usize>s << 2), len);
  }
  let hashBits = 4;
  while (1 << hashBits < states * 2) hashBits++;
  table = allocZero((1 << hashBits) * 8);
  tableMask = <u32>((1 << hashBits) - 1);
  tableShift = <u32>(32 - hashBits);
  fail = allocZero(states << 2);
  out = allocZero(states << 2);
  // Breadth-first so each failure link points at an already finished state.
  const queue = heap.alloc(<usize>states << 2);
  let head = 0;
  let tail = 0;
  for (let c = load<i32>(firstChild); c >= 0; c = load<i32>(nextSibling + (<usize>c << 2))) {
    store<i32>(rootNext + (<usize>load<u8>(label + <usize>c) << 2), c);
    store<i32>(out + (<usize>c << 2), load<i32>(own + (<usize>c << 2)));
    store<i32>(queue + (<usize>(tail++) << 2), c);
  }
  while (head < tail) {
    const s = load<i32>(queue + (<usize>(head++) << 2));
    for (let c = load<i32>(firstChild + (<usize>s << 2)); c >= 0; c = load<i32>(nextSibling + (<usize>c << 2))) {
      const b = <i32>load<u8>(label + <usize>c);
      insert(s, b, c);
      const f = step(load<i32>(fail + (<usize>s << 2)), b);
      store<i32>(fail + (<usize>c << 2), f);
      const o = load<i32>(own + (<usize>c << 2));
      const fo = load<i32>(out + (<usize>f << 2));
      store<i32>(out + (<usize>c << 2), o > fo ? o : fo);
      store<i32>(queue + (<usize>(tail++) << 2), c);
    }
  }
  heap.free(queue);
  heap.free(label);
  heap.free(firstChild);
  heap.free(nextSibling);
  heap.free(own);
}
