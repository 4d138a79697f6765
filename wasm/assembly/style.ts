// Pen styles that cells point into. Mirror of wasm/reference/style.ts, with links kept in an
// arena so a style is a fixed-size entry. Styles are interned through a small direct-mapped
// cache, so the same colour gets the same id and its span JSON is rendered once. An entry
// no cell uses yet is reused, so a stream of style changes without text cannot grow the table.
import { grow, newCapacity } from "./buffer";
import { STYLE_TABLE_COMPACT } from "./limits";

export const PALETTE: u32 = 0x1000000;
export const RGB: u32 = 0x2000000;

// Entry: fg, bg, attrs, hrefLen (compared as one v128), hrefOff, jsonOff, jsonLen, spare.
const ENTRY = 32;
// 4096 slots, not 256: in 256 the typical log's green and inverse bold shared one, and every
// style that loses its slot makes same() look at the table for good (stylesMayRepeat).
const SLOT_BITS = 12;
const SLOTS = 1 << SLOT_BITS;
const REUSE_AFTER = 4096;
let table: usize = 0;
let tableCap: i32 = 0;
export let styleCount: i32 = 1;
let arena: usize = 0;
let arenaCap: i32 = 0;
let arenaLen: i32 = 0;
let json: usize = 0;
let jsonCap: i32 = 0;
let jsonLen: i32 = 0;
/** Direct-mapped cache: hash of a style → its id (0 = empty). */
let slots: usize = 0;
/** Style id new cells get; 0 is the default style. */
export let current: i32 = 0;
/** Whether `current` may be referenced by a cell of the line being written. */
export let used = false;

export function initStyles(): void {
  table = grow(0, 0, ENTRY * 64);
  tableCap = newCapacity(0, ENTRY * 64);
  memory.fill(table, 0, ENTRY);
  store<i32>(table, -1, 24);
  slots = heap.alloc(SLOTS << 2);
  memory.fill(slots, 0, SLOTS << 2);
}

@inline export function markUsed(): void {
  used = true;
}

@inline function entry(id: i32): usize {
  return table + (<usize>id << 5);
}
@inline export function fgOf(id: i32): u32 {
  return load<u32>(entry(id));
}
@inline export function bgOf(id: i32): u32 {
  return load<u32>(entry(id), 4);
}
@inline export function attrsOf(id: i32): u32 {
  return load<u32>(entry(id), 8);
}
@inline export function hrefLen(id: i32): i32 {
  return load<i32>(entry(id), 12);
}
@inline export function hrefPtr(id: i32): usize {
  return arena + <usize>load<i32>(entry(id), 16);
}

@inline function equals(id: i32, key: v128, href: usize, hlen: i32): bool {
  if (!i32x4.all_true(i32x4.eq(v128.load(entry(id)), key))) return false;
  return hlen == 0 || memory.compare(hrefPtr(id), href, <usize>hlen) == 0;
}

/**
 * Whether two ids may have the same fields. Styles are interned through `slots`, so the same
 * fields get a second id only after their first id left its slot: another style took the slot
 * (setStyle), or a compaction cleared the slots. Until then same() needs no look at the table,
 * whose loads sit on the span merge's path (text.ts closeLine, every run of every line).
 */
let stylesMayRepeat = false;

@inline export function same(a: i32, b: i32): bool {
  if (a == b) return true;
  if (!stylesMayRepeat) return false;
  // Two words, not one vector compare: mostly the first differs, and a branch on it is cheaper
  // than the vector's test in JavaScriptCore's code (a span's merge asks this of every run).
  const x = entry(a);
  const y = entry(b);
  if (load<u64>(x) != load<u64>(y) || load<u64>(x, 8) != load<u64>(y, 8)) return false;
  const hlen = hrefLen(b);
  return hlen == 0 || memory.compare(hrefPtr(a), hrefPtr(b), <usize>hlen) == 0;
}

/** The cached JSON of a span's style fields (`,"fg":1,...`), or 0 if not rendered yet. */
@inline export function spanJson(id: i32): usize {
  const n = load<i32>(entry(id), 24);
  return n < 0 ? 0 : json + <usize>load<i32>(entry(id), 20);
}
@inline export function spanJsonLen(id: i32): i32 {
  return load<i32>(entry(id), 24);
}
export function cacheSpanJson(id: i32, src: usize, n: i32): void {
  // 32 bytes stay readable past the end: spans.ts copies up to 32 bytes as two blocks.
  if (jsonLen + n + 32 > jsonCap) {
    json = grow(json, jsonCap, jsonLen + n + 32);
    jsonCap = newCapacity(jsonCap, jsonLen + n + 32);
  }
  memory.copy(json + <usize>jsonLen, src, <usize>n);
  store<i32>(entry(id), jsonLen, 20);
  store<i32>(entry(id), n, 24);
  jsonLen += n;
}

@inline export function setStyle(fg: u32, bg: u32, attrs: u32, href: usize, hlen: i32): void {
  const key = i32x4(fg, bg, attrs, hlen);
  if (equals(current, key, href, hlen)) return;
  if (fg == 0 && bg == 0 && attrs == 0 && hlen == 0) {
    current = 0;
    return;
  }
  const slot = slotOf(fg, bg, attrs, hlen);
  const cached = load<i32>(slot);
  if (cached > 0 && cached < styleCount && equals(cached, key, href, hlen)) {
    current = cached;
    // An interned id may already be on this line, so it must never be overwritten.
    used = true;
    return;
  }
  let id = current;
  // Entries are reused only when a line's style churn gets pathological (changes with no text
  // in between), as reuse forgets the memo; compaction after each line handles the rest.
  if (id == 0 || used || styleCount < REUSE_AFTER) {
    id = styleCount++;
    if (styleCount * ENTRY > tableCap) {
      table = grow(table, tableCap, styleCount * ENTRY);
      tableCap = newCapacity(tableCap, styleCount * ENTRY);
    }
  } else {
    // Reusing an entry nothing uses: memoised results may name it, so forget them.
    memory.fill(memo, 0, MEMO_BYTES);
    // Its link is the newest in the arena, so give the space back.
    if (hrefLen(id) > 0) arenaLen = load<i32>(entry(id), 16);
  }
  const at = entry(id);
  v128.store(at, key);
  store<i32>(at, arenaLen, 16);
  store<i32>(at, -1, 24);
  if (hlen > 0) {
    if (arenaLen + hlen > arenaCap) {
      arena = grow(arena, arenaCap, arenaLen + hlen);
      arenaCap = newCapacity(arenaCap, arenaLen + hlen);
    }
    memory.copy(arena + <usize>arenaLen, href, <usize>hlen);
    arenaLen += hlen;
  }
  // An id that leaves its slot may come back as a second id with the same fields.
  if (cached > 0 && cached < styleCount && cached != id) stylesMayRepeat = true;
  store<i32>(slot, id);
  current = id;
  used = false;
}

/** The interning cache's slot for these fields. */
@inline function slotOf(fg: u32, bg: u32, attrs: u32, hlen: i32): usize {
  return slots + <usize>(((fg * 0x9e3779b1) ^ (bg * 0x85ebca6b) ^ (attrs * 0xc2b2ae35) ^ <u32>hlen) >>> (32 - SLOT_BITS) << 2);
}

// SGR memo: (parameter bytes, style before) → style after. One entry per key, found by the key
// alone, so a lookup's address never waits for the style before (which the SGR before it made):
// key + 1 u64 (0: empty; a key is at most 7 bytes), the next way to replace, then four ways of
// (style before + 1, style after). The pen after is that style's fields (the pen and the current
// style always agree). Cleared whenever ids could change meaning.
const MEMO_SLOTS = 256;
const MEMO_BYTES = MEMO_SLOTS << 6;
const memo: usize = heap.alloc(MEMO_BYTES);
memory.fill(memo, 0, MEMO_BYTES);

/** The memo's entry for this key (whether it is this key's: compare key + 1 at it). */
@inline export function memoEntry(key: u64): usize {
  return memo + (<usize>(key * 0x9e3779b97f4a7c15 >> 56) << 6);
}

/**
 * The style this SGR leads to from `from`, if memoised, else -1: written out with branches, the
 * entry's address from the key alone and each way's style after loaded while the style before is
 * compared (ground.ts's loops take it inline).
 */
@inline export function memoStyle(key: u64, from: i32): i32 {
  const e = memoEntry(key);
  if (load<u64>(e) != key + 1) return -1;
  const f = from + 1;
  if (load<i32>(e, 16) == f) return load<i32>(e, 20);
  if (load<i32>(e, 24) == f) return load<i32>(e, 28);
  if (load<i32>(e, 32) == f) return load<i32>(e, 36);
  if (load<i32>(e, 40) == f) return load<i32>(e, 44);
  return -1;
}

/** memoStyle, for the state machine (csi.ts): a call, not inlined. */
export function sgrMemo(key: u64, from: i32): i32 {
  return memoStyle(key, from);
}

export function rememberSgr(key: u64, from: i32, to: i32): void {
  const at = memoEntry(key);
  if (load<u64>(at) != key + 1) {
    memory.fill(at, 0, 64);
    store<u64>(at, key + 1);
  }
  const way = load<i32>(at, 8);
  store<i32>(at, (way + 1) & 3, 8);
  store<i32>(at + <usize>(16 + way * 8), from + 1);
  store<i32>(at + <usize>(20 + way * 8), to);
}

/** Switches the pen to an existing style id (from the memo). */
@inline export function useStyle(id: i32): void {
  if (id != current) {
    current = id;
    // It may already be on this line, so it must never be overwritten in place.
    used = true;
  }
}

/** Whether compactStyles has anything to do (else it only clears `used`). */
@inline export function stylesOverflow(): bool {
  return styleCount > STYLE_TABLE_COMPACT || arenaLen > 65536 || jsonLen > 65536;
}

/** Called right after a line was emitted, when no cell references the table. */
export function compactStyles(): void {
  used = false;
  if (!stylesOverflow()) return;
  memory.fill(slots, 0, SLOTS << 2);
  memory.fill(memo, 0, MEMO_BYTES);
  jsonLen = 0;
  // The one id left (if any) goes back into its slot, so no two ids can have the same fields.
  stylesMayRepeat = false;
  if (current == 0) {
    styleCount = 1;
    arenaLen = 0;
    return;
  }
  const hlen = hrefLen(current);
  memory.copy(arena, hrefPtr(current), <usize>hlen);
  memory.copy(entry(1), entry(current), <usize>ENTRY);
  store<i32>(entry(1), 0, 16);
  store<i32>(entry(1), -1, 24);
  arenaLen = hlen;
  styleCount = 2;
  current = 1;
  store<i32>(slotOf(fgOf(1), bgOf(1), attrsOf(1), hlen), 1);
}
