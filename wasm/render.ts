// HTML and plain-text renderings of pipeline lines. HTML uses classes in the spirit of
// Buildkite's terminal-to-html (term-fg31, term-fgx208, term-fg1 for bold, ...).
import type { LogLine, Span } from "./types.ts";

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function colourClass(prefix: "fg" | "bg", c: number | string, style: string[]): string | null {
  if (typeof c === "string") {
    style.push(`${prefix === "fg" ? "color" : "background-color"}:${c}`);
    return null;
  }
  const base = prefix === "fg" ? 30 : 40;
  if (c < 8) return `term-${prefix}${base + c}`;
  if (c < 16) return `term-${prefix}${base + 60 + c - 8}`;
  return `term-${prefix}x${c}`;
}

function open(span: Span): string {
  const classes: string[] = [];
  const style: string[] = [];
  if (span.bold) classes.push("term-fg1");
  if (span.dim) classes.push("term-fg2");
  if (span.italic) classes.push("term-fg3");
  if (span.underline) classes.push("term-fg4");
  if (span.inverse) classes.push("term-fg7");
  if (span.strike) classes.push("term-fg9");
  if (span.fg !== undefined) {
    const c = colourClass("fg", span.fg, style);
    if (c) classes.push(c);
  }
  if (span.bg !== undefined) {
    const c = colourClass("bg", span.bg, style);
    if (c) classes.push(c);
  }
  let tag = "<span";
  if (classes.length > 0) tag += ` class="${classes.join(" ")}"`;
  if (style.length > 0) tag += ` style="${style.join(";")}"`;
  tag += ">";
  if (span.href) tag += `<a href="${escapeHtml(span.href)}" rel="nofollow noopener noreferrer">`;
  return tag;
}

/** One `<div class="term-line">` per line; continuation lines carry `term-cont`. */
export function renderHtml(lines: LogLine[]): string {
  let out = "";
  for (const line of lines) {
    out += `<div class="term-line${line.cont ? " term-cont" : ""}" data-n="${line.n}">`;
    let at = 0;
    for (const span of line.spans) {
      out += escapeHtml(line.text.slice(at, span.start));
      out +=
        open(span) +
        escapeHtml(line.text.slice(span.start, span.end)) +
        (span.href ? "</a>" : "") +
        "</span>";
      at = span.end;
    }
    out += `${escapeHtml(line.text.slice(at))}</div>\n`;
  }
  return out;
}

/** Plain text, one line per line; a continuation is joined back onto the line it continues. */
export function renderText(lines: LogLine[]): string {
  let out = "";
  for (let i = 0; i < lines.length; i++) {
    if (i > 0 && !lines[i].cont) out += "\n";
    out += lines[i].text;
  }
  return lines.length > 0 ? `${out}\n` : out;
}
