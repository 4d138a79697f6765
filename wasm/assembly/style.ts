// Pen styles that cells point into. Mirror of wasm/reference/style.ts, with the links kept in
// an arena so a style is five integers. An entry no cell uses yet is reused, so a stream of
// style changes without text cannot grow the table.
import { grow, newCapacity } from "./buffer";
import { STYLE_TABLE_COMPACT } from "./limits";

export const PALETTE: u32 = 0x1000000;
export const RGB: u32 = 0x2000000;

const ENTRY = 20;
let table: usize = 0;
let tableCap: i32 = 0;
export let styleCount: i32 = 1;
let arena: usize = 0;
let arenaCap: i32 = 0;
let arenaLen: i32 = 0;
/** Style id new cells get; 0 is the default style. */
export let current: i32 = 0;
/** Whether a cell has been written with `current` since it was made. */
export let used = false;

export function initStyles(): void {
  table = grow(0, 0, ENTRY * 64);
  tableCap = newCapacity(0, ENTRY * 64);
  memory.fill(table, 0, ENTRY);
}

@inline export function markUsed(): void {
  used = true;
}

@inline export function fgOf(id: i32): u32 {
  return load<u32>(table + <usize>(id * ENTRY));
}
@inline export function bgOf(id: i32): u32 {
  return load<u32>(table + <usize>(id * ENTRY), 4);
}
@inline export function attrsOf(id: i32): u32 {
  return load<u32>(table + <usize>(id * ENTRY), 8);
}
@inline export function hrefPtr(id: i32): usize {
  return arena + <usize>load<i32>(table + <usize>(id * ENTRY), 12);
}
@inline export function hrefLen(id: i32): i32 {
  return load<i32>(table + <usize>(id * ENTRY), 16);
}

function equals(id: i32, fg: u32, bg: u32, attrs: u32, href: usize, hlen: i32): bool {
  if (fgOf(id) != fg || bgOf(id) != bg || attrsOf(id) != attrs || hrefLen(id) != hlen) return false;
  return hlen == 0 || memory.compare(hrefPtr(id), href, <usize>hlen) == 0;
}

export function same(a: i32, b: i32): bool {
  if (a == b) return true;
  return equals(a, fgOf(b), bgOf(b), attrsOf(b), hrefPtr(b), hrefLen(b));
}

export function setStyle(fg: u32, bg: u32, attrs: u32, href: usize, hlen: i32): void {
  if (equals(current, fg, bg, attrs, href, hlen)) return;
  if (fg == 0 && bg == 0 && attrs == 0 && hlen == 0) {
    current = 0;
    return;
  }
  let id = current;
  if (id == 0 || used) {
    id = styleCount++;
    if (styleCount * ENTRY > tableCap) {
      table = grow(table, tableCap, styleCount * ENTRY);
      tableCap = newCapacity(tableCap, styleCount * ENTRY);
    }
  } else if (hrefLen(id) > 0) {
    // Reusing the newest entry: its link is the newest in the arena, so give the space back.
    arenaLen = load<i32>(table + <usize>(id * ENTRY), 12);
  }
  const at = table + <usize>(id * ENTRY);
  store<u32>(at, fg);
  store<u32>(at, bg, 4);
  store<u32>(at, attrs, 8);
  store<i32>(at, arenaLen, 12);
  store<i32>(at, hlen, 16);
  if (hlen > 0) {
    if (arenaLen + hlen > arenaCap) {
      arena = grow(arena, arenaCap, arenaLen + hlen);
      arenaCap = newCapacity(arenaCap, arenaLen + hlen);
    }
    memory.copy(arena + <usize>arenaLen, href, <usize>hlen);
    arenaLen += hlen;
  }
  current = id;
  used = false;
}

/** Called right after a line was emitted, when no cell references the table. */
export function compactStyles(): void {
  used = false;
  if (styleCount <= STYLE_TABLE_COMPACT && arenaLen <= 65536) return;
  if (current == 0) {
    styleCount = 1;
    arenaLen = 0;
    return;
  }
  const from = table + <usize>(current * ENTRY);
  const to = table + <usize>ENTRY;
  const hlen = hrefLen(current);
  memory.copy(arena, hrefPtr(current), <usize>hlen);
  memory.copy(to, from, <usize>ENTRY);
  store<i32>(to, 0, 12);
  arenaLen = hlen;
  styleCount = 2;
  current = 1;
}
