// One log line to DOM: style runs become <span class="fg-1 b"> (classes only — CSP allows no style
// attributes), true colours are set through CSSOM, OSC 8 links become <a>, search hits become <mark>.
import type { LogLine, Span } from "../types.ts";

function classesOf(s: Span): string {
  const cls: string[] = [];
  let fg = s.fg;
  let bg = s.bg;
  if (s.inverse) {
    [fg, bg] = [bg, fg];
    if (fg === undefined) cls.push("fg-inv");
    if (bg === undefined) cls.push("bg-inv");
  }
  if (typeof fg === "number") cls.push(`fg-${fg}`);
  if (typeof bg === "number") cls.push(`bg-${bg}`);
  if (s.bold) cls.push("b");
  if (s.dim) cls.push("d");
  if (s.italic) cls.push("i");
  if (s.underline) cls.push("u");
  if (s.strike) cls.push("s");
  return cls.join(" ");
}

function styled(text: string, s: Span | null): Node {
  if (!s) return document.createTextNode(text);
  const safeHref = s.href && /^https?:\/\//i.test(s.href) ? s.href : null;
  const el = document.createElement(safeHref ? "a" : "span");
  if (safeHref) {
    (el as HTMLAnchorElement).href = safeHref;
    (el as HTMLAnchorElement).rel = "noopener noreferrer nofollow";
    (el as HTMLAnchorElement).target = "_blank";
  }
  const cls = classesOf(s);
  if (cls) el.className = cls;
  const fg = s.inverse ? s.bg : s.fg;
  const bg = s.inverse ? s.fg : s.bg;
  if (typeof fg === "string") el.style.color = fg; // CSSOM: permitted by style-src 'self'
  if (typeof bg === "string") el.style.backgroundColor = bg;
  el.textContent = text;
  return el;
}

/** Positions of `needle` (lower-cased) in `text`, case-insensitive. */
export function findAll(text: string, needle: string): number[] {
  const out: number[] = [];
  if (!needle) return out;
  const hay = text.toLowerCase();
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + needle.length)) out.push(i);
  return out;
}

/** Fills `target` with the line's text, styled, with search hits for `needle` (lower-case) marked. */
export function renderLine(target: HTMLElement, line: LogLine, needle = ""): void {
  const { text, spans } = line;
  const hits = findAll(text, needle);
  const frag = document.createDocumentFragment();
  if (!spans.length && !hits.length) {
    target.textContent = text;
    return;
  }
  // Cut points: span edges and hit edges; each piece has at most one span and maybe a mark.
  const cuts = new Set<number>([0, text.length]);
  for (const s of spans) {
    cuts.add(s.start);
    cuts.add(s.end);
  }
  for (const at of hits) {
    cuts.add(at);
    cuts.add(at + needle.length);
  }
  const points = [...cuts].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
  let si = 0;
  let hi = 0;
  let mark: HTMLElement | null = null;
  for (let k = 0; k + 1 < points.length; k++) {
    const a = points[k];
    const b = points[k + 1];
    if (a === b) continue;
    while (si < spans.length && spans[si].end <= a) si++;
    const span = si < spans.length && spans[si].start <= a ? spans[si] : null;
    while (hi < hits.length && hits[hi] + needle.length <= a) hi++;
    const inHit = hi < hits.length && hits[hi] <= a;
    const node = styled(text.slice(a, b), span);
    if (inHit) {
      if (!mark || mark.dataset.hit !== String(hits[hi])) {
        mark = document.createElement("mark");
        mark.dataset.hit = String(hits[hi]);
        frag.appendChild(mark);
      }
      mark.appendChild(node);
    } else {
      mark = null;
      frag.appendChild(node);
    }
  }
  target.replaceChildren(frag);
}
