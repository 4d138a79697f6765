// The line being written: a row of cells (code point + style id) with a cursor, so `\r`,
// backspace and erase-line rewrite it like a terminal would. Completed lines come out as LogLines.
// Mirrored in wasm/assembly/line.ts.
import { LINE_LIMIT_BYTES } from "../limits.ts";
import type { LogLine, Span } from "../types.ts";
import type { Automaton } from "./automaton.ts";
import { maskedRanges } from "./rendered.ts";
import type { StyleTable } from "./style.ts";

const STAR = 0x2a;
const MASK_CELLS = 8;

function utf8Len(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

export interface LineSink {
  line(line: LogLine, textBytes: number): void;
}

export class Line {
  private cps = new Uint32Array(256);
  private sts = new Uint32Array(256);
  private len = 0;
  private cursor = 0;
  /** UTF-8 size of the text, kept current so the 64 KiB split needs no rescan. */
  private bytes = 0;
  private cont = false;
  private units = new Uint16Array(512);
  next: number;

  constructor(
    private readonly styles: StyleTable,
    private readonly sink: LineSink,
    firstLine: number,
    /** The secrets' automaton, for masking the line's rendered text. */
    private readonly automaton: () => Automaton,
  ) {
    this.next = firstLine;
  }

  write(cp: number): void {
    const size = utf8Len(cp);
    let grow: number;
    if (this.cursor < this.len) grow = size - utf8Len(this.cps[this.cursor]);
    else grow = this.cursor - this.len + size;
    if (this.bytes + grow > LINE_LIMIT_BYTES) {
      this.emit();
      this.cont = true;
      grow = size;
    }
    if (this.cursor >= this.cps.length) this.reserve(this.cursor + 1);
    // Cells skipped by a tab are blanks in the default style.
    while (this.len < this.cursor) {
      this.cps[this.len] = 0x20;
      this.sts[this.len++] = 0;
    }
    this.cps[this.cursor] = cp;
    this.sts[this.cursor++] = this.styles.current;
    if (this.cursor > this.len) this.len = this.cursor;
    this.bytes += grow;
  }

  /** Printable ASCII buf[start, end) at the cursor: appended in bulk when the cursor is at the end. */
  writeAscii(buf: Uint8Array, start: number, end: number): void {
    let i = start;
    while (i < end) {
      if (this.cursor !== this.len) {
        this.write(buf[i++]);
        continue;
      }
      const take = Math.min(end - i, LINE_LIMIT_BYTES - this.bytes);
      if (take <= 0) {
        this.write(buf[i++]);
        continue;
      }
      this.reserve(this.len + take);
      const cps = this.cps;
      const sts = this.sts;
      const style = this.styles.current;
      for (let k = 0, at = this.len; k < take; k++, at++) {
        cps[at] = buf[i + k];
        sts[at] = style;
      }
      this.len += take;
      this.cursor = this.len;
      this.bytes += take;
      i += take;
    }
  }

  carriageReturn(): void {
    this.cursor = 0;
  }

  backspace(): void {
    if (this.cursor > 0) this.cursor--;
  }

  tab(): void {
    this.cursor = (Math.floor(this.cursor / 8) + 1) * 8;
  }

  /** ESC[K: 0 = cursor to end, 1 = start to cursor, 2 = whole line. */
  erase(mode: number): void {
    if (mode === 0) {
      if (this.cursor < this.len) {
        for (let i = this.cursor; i < this.len; i++) this.bytes -= utf8Len(this.cps[i]);
        this.len = this.cursor;
      }
    } else if (mode === 1) {
      const end = this.cursor < this.len ? this.cursor + 1 : this.len;
      for (let i = 0; i < end; i++) {
        this.bytes -= utf8Len(this.cps[i]) - 1;
        this.cps[i] = 0x20;
        this.sts[i] = 0;
      }
    } else if (mode === 2) {
      this.len = 0;
      this.bytes = 0;
    }
  }

  newline(): void {
    this.emit();
    this.cont = false;
  }

  /** End of a flush: the partial line goes out if it has anything in it. */
  finish(): void {
    if (this.len > 0) this.emit();
    this.cursor = 0;
    this.cont = false;
  }

  /**
   * Masks what a viewer will read: the secrets' patterns found in the line's text (a secret with an
   * escape sequence or an overwrite in its middle passed the raw-byte masker whole) become one
   * `********` each, in the style of the first masked character.
   */
  private maskText(): void {
    const ac = this.automaton();
    if (ac.empty || this.len === 0) return;
    const bytes = new Uint8Array(this.len * 4);
    const cellOf = new Int32Array(this.len * 4);
    let n = 0;
    for (let i = 0; i < this.len; i++) {
      const cp = this.cps[i];
      const size = utf8Len(cp);
      if (size === 1) bytes[n] = cp;
      else if (size === 2) bytes.set([0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)], n);
      else if (size === 3) bytes.set([0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)], n);
      else
        bytes.set(
          [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)],
          n,
        );
      cellOf.fill(i, n, n + size);
      n += size;
    }
    const ranges = maskedRanges(ac, bytes, n);
    if (ranges.length === 0) return;
    const cps: number[] = [];
    const sts: number[] = [];
    let at = 0;
    for (let k = 0; k < ranges.length; k += 2) {
      const first = cellOf[ranges[k]];
      for (let i = at; i < first; i++) {
        cps.push(this.cps[i]);
        sts.push(this.sts[i]);
      }
      for (let i = 0; i < MASK_CELLS; i++) {
        cps.push(STAR);
        sts.push(this.sts[first]);
      }
      at = cellOf[ranges[k + 1]] + 1;
    }
    for (let i = at; i < this.len; i++) {
      cps.push(this.cps[i]);
      sts.push(this.sts[i]);
    }
    this.reserve(cps.length);
    this.cps.set(cps);
    this.sts.set(sts);
    this.len = cps.length;
    this.bytes = 0;
    for (const cp of cps) this.bytes += utf8Len(cp);
  }

  private emit(): void {
    this.maskText();
    if (this.units.length < this.len * 2) this.units = new Uint16Array(this.len * 2);
    const units = this.units;
    const spans: Span[] = [];
    const styles = this.styles;
    let unit = 0;
    let runStart = 0;
    let runStyle = 0;
    for (let i = 0; i < this.len; i++) {
      const cp = this.cps[i];
      const st = this.sts[i];
      if (st !== runStyle && !styles.same(st, runStyle)) {
        if (runStyle !== 0 && unit > runStart) spans.push(styles.span(runStyle, runStart, unit));
        runStart = unit;
        runStyle = st;
      }
      if (cp < 0x10000) units[unit++] = cp;
      else {
        units[unit++] = 0xd7c0 + (cp >> 10);
        units[unit++] = 0xdc00 | (cp & 0x3ff);
      }
    }
    let text = "";
    for (let i = 0; i < unit; i += 8192) {
      text += String.fromCharCode.apply(
        null,
        units.subarray(i, Math.min(unit, i + 8192)) as unknown as number[],
      );
    }
    if (runStyle !== 0 && unit > runStart && !styles.same(runStyle, 0)) {
      spans.push(styles.span(runStyle, runStart, unit));
    }
    const line: LogLine = { n: this.next++, text, spans };
    if (this.cont) line.cont = true;
    this.sink.line(line, this.bytes);
    this.len = 0;
    this.cursor = 0;
    this.bytes = 0;
    styles.compact();
  }

  private reserve(n: number): void {
    if (n <= this.cps.length) return;
    let cap = this.cps.length;
    while (cap < n) cap *= 2;
    const cps = new Uint32Array(cap);
    const sts = new Uint32Array(cap);
    cps.set(this.cps);
    sts.set(this.sts);
    this.cps = cps;
    this.sts = sts;
  }
}
