// Pen state (SGR attributes, colours, OSC 8 link) and the per-pipeline style table that cells
// point into. Mirrored in wasm/assembly/style.ts.
import { STYLE_TABLE_COMPACT } from "../limits.ts";
import type { Span } from "../types.ts";

export const BOLD = 1;
export const DIM = 2;
export const ITALIC = 4;
export const UNDERLINE = 8;
export const INVERSE = 16;
export const STRIKE = 32;
/** Colour encoding: 0 = default, PALETTE | n for n in 0..255, RGB | 0xrrggbb. */
export const PALETTE = 0x1000000;
export const RGB = 0x2000000;

export class StyleTable {
  fg: number[] = [0];
  bg: number[] = [0];
  attrs: number[] = [0];
  href: string[] = [""];
  /** Style id new cells get; 0 is the default style. */
  current = 0;

  /** Makes (fg, bg, attrs, href) the pen, adding a table entry when it changed. */
  set(fg: number, bg: number, attrs: number, href: string): void {
    const c = this.current;
    if (this.fg[c] === fg && this.bg[c] === bg && this.attrs[c] === attrs && this.href[c] === href) return;
    if (fg === 0 && bg === 0 && attrs === 0 && href === "") {
      this.current = 0;
      return;
    }
    this.fg.push(fg);
    this.bg.push(bg);
    this.attrs.push(attrs);
    this.href.push(href);
    this.current = this.fg.length - 1;
  }

  same(a: number, b: number): boolean {
    return (
      this.fg[a] === this.fg[b] &&
      this.bg[a] === this.bg[b] &&
      this.attrs[a] === this.attrs[b] &&
      this.href[a] === this.href[b]
    );
  }

  /** Called when no cell references the table any more (a line was just emitted). */
  compact(): void {
    if (this.fg.length <= STYLE_TABLE_COMPACT) return;
    const c = this.current;
    this.fg = [0, this.fg[c]];
    this.bg = [0, this.bg[c]];
    this.attrs = [0, this.attrs[c]];
    this.href = ["", this.href[c]];
    this.current = c === 0 ? 0 : 1;
  }

  span(id: number, start: number, end: number): Span {
    const s: Span = { start, end };
    const fg = this.fg[id];
    const bg = this.bg[id];
    const a = this.attrs[id];
    if (fg !== 0) s.fg = colour(fg);
    if (bg !== 0) s.bg = colour(bg);
    if (a & BOLD) s.bold = true;
    if (a & DIM) s.dim = true;
    if (a & ITALIC) s.italic = true;
    if (a & UNDERLINE) s.underline = true;
    if (a & INVERSE) s.inverse = true;
    if (a & STRIKE) s.strike = true;
    if (this.href[id] !== "") s.href = this.href[id];
    return s;
  }
}

function colour(c: number): number | string {
  if (c & PALETTE) return c & 0xff;
  return `#${(c & 0xffffff).toString(16).padStart(6, "0")}`;
}
