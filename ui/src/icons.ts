// Status glyphs as inline SVG: they draw the same on every machine, whatever fonts it has (a
// text glyph such as ⏸ is an empty box where no installed font covers it).
import { svg } from "./dom.ts";

/** Path data on a 16×16 grid, stroked in the text colour (`fill` marks the shapes that are filled). */
const SHAPES: Record<string, { d: string; fill?: boolean }[]> = {
  queued: [{ d: "M8 2.5a5.5 5.5 0 1 1 0 11a5.5 5.5 0 1 1 0-11z" }],
  running: [
    { d: "M8 2.5a5.5 5.5 0 1 1 0 11a5.5 5.5 0 1 1 0-11z" },
    { d: "M8 2.5a5.5 5.5 0 0 1 0 11z", fill: true },
  ],
  success: [{ d: "M3 8.5l3.2 3.2L13 4.8" }],
  failed: [{ d: "M4 4l8 8M12 4l-8 8" }],
  canceled: [{ d: "M8 2.5a5.5 5.5 0 1 1 0 11a5.5 5.5 0 1 1 0-11z" }, { d: "M4.1 11.9l7.8-7.8" }],
  not_run: [{ d: "M8 2.5a5.5 5.5 0 1 1 0 11a5.5 5.5 0 1 1 0-11z" }, { d: "M5 8h6" }],
  lost: [{ d: "M5.5 6a2.5 2.5 0 1 1 3.5 2.3c-.7.3-1 .8-1 1.5v.7" }, { d: "M8 12.6v.4" }],
  skipped: [{ d: "M4 8h8" }],
  "on-hold": [{ d: "M5.5 3.5v9M10.5 3.5v9" }],
};
const OTHER = [{ d: "M8 6.5a1.5 1.5 0 1 1 0 3a1.5 1.5 0 1 1 0-3z", fill: true }];

export function statusIcon(status: string): SVGElement {
  const icon = svg("svg", {
    class: "status-icon",
    viewBox: "0 0 16 16",
    width: 14,
    height: 14,
    "aria-hidden": "true",
    "data-icon": SHAPES[status] ? status : "other",
  });
  for (const s of SHAPES[status] ?? OTHER) {
    icon.appendChild(
      svg("path", {
        d: s.d,
        fill: s.fill ? "currentColor" : "none",
        stroke: "currentColor",
        "stroke-width": 1.8,
        "stroke-linecap": "round",
        "stroke-linejoin": "round",
      }),
    );
  }
  return icon;
}
