// State of the line being written, shared by its two representations (text.ts: UTF-8 bytes
// plus style runs, for lines only ever appended to; cells.ts: one cell per character, once
// the cursor moves back). Mirrors the fields of wasm/reference/line.ts.

/** Characters (cells) in the line. */
export let len: i32 = 0;
export let cursor: i32 = 0;
/** UTF-8 size of the line's text. */
export let bytes: i32 = 0;
/** The line continues the previous one (that one reached 64 KiB). */
export let cont = false;
/** Number of the next line to emit. */
export let next: u32 = 1;
/** Whether the line is held as text (text.ts) rather than cells (cells.ts). */
export let asText = true;
/**
 * The line met something ground.ts's feedLines does not take before its end (a `\r` redraw, a new
 * SGR, a long line): the rest of it, even emptied by an erase, is not tried there again.
 */
export let notDirect = false;

@inline export function utf8Len(cp: u32): i32 {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}
