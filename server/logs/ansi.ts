// The `raw` download: a job's (masked) log as terminal text, with SGR sequences rebuilt from the
// lines' style spans, so `less -R` or a terminal shows the colours. Nothing but SGR and OSC 8.
import type { LogLine, Span } from "../../wasm/types.ts";

function colour(c: number | string, base: number): string {
  if (typeof c === "string") {
    const n = Number.parseInt(c.slice(1), 16);
    return `${base + 8};2;${(n >> 16) & 255};${(n >> 8) & 255};${n & 255}`;
  }
  if (c < 8) return String(base + c);
  if (c < 16) return String(base + 60 + c - 8);
  return `${base + 8};5;${c}`;
}

function sgr(span: Span): string {
  const codes: string[] = [];
  if (span.bold) codes.push("1");
  if (span.dim) codes.push("2");
  if (span.italic) codes.push("3");
  if (span.underline) codes.push("4");
  if (span.inverse) codes.push("7");
  if (span.strike) codes.push("9");
  if (span.fg !== undefined) codes.push(colour(span.fg, 30));
  if (span.bg !== undefined) codes.push(colour(span.bg, 40));
  return codes.length ? `\x1b[${codes.join(";")}m` : "";
}

export function renderAnsi(lines: LogLine[]): string {
  let out = "";
  for (const line of lines) {
    let at = 0;
    for (const span of line.spans) {
      out += line.text.slice(at, span.start);
      const open = sgr(span);
      const text = line.text.slice(span.start, span.end);
      const linked = span.href ? `\x1b]8;;${span.href}\x1b\\${text}\x1b]8;;\x1b\\` : text;
      out += open ? `${open}${linked}\x1b[0m` : linked;
      at = span.end;
    }
    out += `${line.text.slice(at)}\n`;
  }
  return out;
}
