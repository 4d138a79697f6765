// The line being written, as the parser sees it. Mirror of wasm/reference/line.ts. Lines only
// ever appended to stay in text.ts's representation (a copy in, a copy out); the first write
// or erase behind the end moves the line into cells.ts. Completed lines go back to text, are masked
// (rendered.ts) and go out as JSON.
import { acEmpty } from "./automaton";
import { cellErase, cellWrite, cellWriteAscii, toCells, toText } from "./cells";
import { asText, cont, cursor, len, next, notDirect } from "./linestate";
import { maskText } from "./rendered";
import { compactStyles } from "./style";
import { appendAscii, appendCodePoint, clearText, emitText } from "./text";

export function initLine(first: u32): void {
  next = first;
}

function emit(): void {
  const wasCells = !asText;
  if (wasCells) toText();
  // What a viewer reads is masked again: a secret with an escape sequence in its middle.
  if (!acEmpty) maskText(wasCells);
  emitText();
  clearText();
  cursor = 0;
  asText = true;
  compactStyles();
}

/** The line reached 64 KiB: out it goes, and the next one continues it. */
function split(): void {
  emit();
  cont = true;
}

export function write(cp: u32): void {
  if (asText) {
    if (cursor == len) {
      if (!appendCodePoint(cp)) {
        split();
        appendCodePoint(cp);
      }
      return;
    }
    toCells();
  }
  if (!cellWrite(cp)) {
    split();
    appendCodePoint(cp);
  }
}

/** Printable ASCII [p, end) at the cursor. */
export function writeAscii(p: usize, end: usize): void {
  let n = <i32>(end - p);
  while (n > 0) {
    let took: i32;
    if (asText && cursor == len) took = appendAscii(p, n);
    else {
      if (asText) toCells();
      took = cellWriteAscii(p, n);
    }
    if (took == 0) {
      split();
      continue;
    }
    p += <usize>took;
    n -= took;
  }
}

export function carriageReturn(): void {
  cursor = 0;
}

export function backspace(): void {
  if (cursor > 0) cursor--;
}

export function tab(): void {
  cursor = (cursor / 8 + 1) * 8;
}

/** ESC[K: 0 = cursor to end, 1 = start to cursor, 2 = whole line. */
export function erase(mode: i32): void {
  if (asText) {
    if (mode == 2 || (mode == 0 && cursor == 0)) {
      clearText();
      return;
    }
    if ((mode == 0 && cursor >= len) || (mode == 1 && len == 0) || mode > 2) return;
    toCells();
  }
  cellErase(mode);
  if (len == 0) {
    // An emptied line is appended to again: back to the fast representation.
    clearText();
    asText = true;
  }
}

export function newline(): void {
  emit();
  cont = false;
  notDirect = false;
}

export function finishLine(): void {
  if (len > 0) emit();
  cursor = 0;
  cont = false;
  notDirect = false;
}
