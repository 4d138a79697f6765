// Insights charts drawn on the server as SVG: no charting library and no script in the page, and
// the same picture for the UI (an <img>) and for anyone who fetches it. Lines over time buckets, a
// gap where a bucket has no runs, every label escaped. Colours work on light and dark pages.

export interface ChartSeries {
  name: string;
  /** One value per bucket; null: no runs there (a gap in the line). */
  values: (number | null)[];
  colour: string;
}

export interface Chart {
  title: string;
  /** Bucket starts, ISO. */
  buckets: string[];
  series: ChartSeries[];
  /** How a value reads on the axis and in tooltips. */
  format: (v: number) => string;
  /** The y axis starts at 0 and ends at least here (1 for a rate). */
  minTop?: number;
}

const W = 640;
const H = 220;
const PAD = { left: 56, right: 16, top: 34, bottom: 28 };
const AXIS = "#8b949e";

export const escapeXml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** A round top for the y axis: 1, 2 or 5 times a power of ten, at least `v`. */
export function niceTop(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** `2026-12-05T00:00:00.000Z` as `12-05` (days) or `14:00` (hours). */
function tick(isoStart: string, hourly: boolean): string {
  return hourly ? isoStart.slice(11, 16) : isoStart.slice(5, 10);
}

export function renderChart(c: Chart): string {
  const n = c.buckets.length;
  const all = c.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const top = niceTop(Math.max(c.minTop ?? 0, ...all, 0));
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (n <= 1 ? iw / 2 : (i * iw) / (n - 1));
  const y = (v: number) => PAD.top + ih - (v / top) * ih;
  const hourly = n > 1 && Date.parse(c.buckets[1]) - Date.parse(c.buckets[0]) < 86_400_000;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-labelledby="t d" font-family="sans-serif" font-size="11">`,
    `<title id="t">${escapeXml(c.title)}</title>`,
    `<desc id="d">${escapeXml(describe(c))}</desc>`,
    `<text x="${PAD.left}" y="16" font-size="13" font-weight="bold" fill="${AXIS}">${escapeXml(c.title)}</text>`,
  ];
  // Legend, right-aligned on the title line.
  let lx = W - PAD.right;
  for (const s of [...c.series].reverse()) {
    const w = 18 + s.name.length * 6.5;
    lx -= w;
    out.push(
      `<line x1="${lx}" y1="12" x2="${lx + 12}" y2="12" stroke="${s.colour}" stroke-width="2.5"/>`,
      `<text x="${lx + 15}" y="16" fill="${AXIS}">${escapeXml(s.name)}</text>`,
    );
  }
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    out.push(
      `<line x1="${PAD.left}" y1="${y(v)}" x2="${W - PAD.right}" y2="${y(v)}" stroke="${AXIS}" stroke-opacity="${k ? 0.25 : 0.8}"/>`,
      `<text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end" fill="${AXIS}">${escapeXml(c.format(v))}</text>`,
    );
  }
  const every = Math.max(1, Math.ceil(n / 8));
  for (let i = 0; i < n; i += every) {
    out.push(
      `<text x="${x(i)}" y="${H - 8}" text-anchor="middle" fill="${AXIS}">${escapeXml(tick(c.buckets[i], hourly))}</text>`,
    );
  }
  for (const s of c.series) {
    // Runs of consecutive values become one path each; a bucket without runs breaks the line.
    let d = "";
    let open = false;
    s.values.forEach((v, i) => {
      if (v === null) {
        open = false;
        return;
      }
      d += `${open ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      open = true;
    });
    out.push(`<g class="series" data-series="${escapeXml(s.name)}">`);
    if (d) out.push(`<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="2"/>`);
    s.values.forEach((v, i) => {
      if (v === null) return;
      out.push(
        `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${s.colour}"><title>${escapeXml(
          `${s.name} ${tick(c.buckets[i], hourly)}: ${c.format(v)}`,
        )}</title></circle>`,
      );
    });
    out.push("</g>");
  }
  if (all.length === 0) {
    out.push(
      `<text x="${W / 2}" y="${PAD.top + ih / 2}" text-anchor="middle" fill="${AXIS}">No finished runs in this window</text>`,
    );
  }
  out.push("</svg>");
  return out.join("\n");
}

/** The chart in words, for screen readers and for tests. */
function describe(c: Chart): string {
  return c.series
    .map((s) => {
      const vs = s.values.filter((v): v is number => v !== null);
      return vs.length ? `${s.name}: latest ${c.format(vs.at(-1)!)}` : `${s.name}: no runs`;
    })
    .join("; ");
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
}

export const formatRate = (v: number): string => `${Math.round(v * 100)}%`;
