// A job's log lines in the browser, fetched lazily in pages of 10,000 as the viewport needs them,
// merged with live lines from the stream, and evicted least-recently-used so a huge log stays small.
import type { LogLine } from "../types.ts";

export const PAGE = 10_000;

interface PageSlot {
  lines: (LogLine | undefined)[];
  /** Lines from the page's start known without a gap. */
  contiguous: number;
  inflight: Promise<void> | null;
  /** After an empty or failed read, wait before asking again. */
  retryAt: number;
  used: number;
}

interface LogPage {
  lines: LogLine[];
  total_lines: number;
  complete: boolean;
}

export class LineStore {
  total = 0;
  private readonly pages = new Map<number, PageSlot>();
  private clock = 0;

  constructor(
    private readonly jobId: string,
    private readonly onChange: () => void,
    private readonly maxPages = 24,
  ) {}

  get(n: number): LogLine | undefined {
    return this.pages.get(Math.floor((n - 1) / PAGE))?.lines[(n - 1) % PAGE];
  }

  /** A live line from the stream. */
  put(line: LogLine): void {
    const p = Math.floor((line.n - 1) / PAGE);
    const slot = this.slot(p);
    slot.lines[(line.n - 1) % PAGE] = line;
    while (slot.contiguous < PAGE && slot.lines[slot.contiguous]) slot.contiguous++;
    if (line.n > this.total) this.total = line.n;
  }

  /** Starts reading whatever of lines [a, b] is missing. */
  want(a: number, b: number): void {
    a = Math.max(1, a);
    b = Math.min(this.total, b);
    if (b < a) return;
    const stamp = ++this.clock;
    for (let p = Math.floor((a - 1) / PAGE); p <= Math.floor((b - 1) / PAGE); p++) {
      const slot = this.slot(p);
      slot.used = stamp;
      const lastNeeded = Math.min(b, (p + 1) * PAGE) - p * PAGE;
      if (slot.contiguous < lastNeeded) void this.read(p);
    }
    this.evict(stamp);
  }

  /** Reads line n's page if needed and returns the line (search walks the log with this). */
  async ensure(n: number): Promise<LogLine | undefined> {
    const p = Math.floor((n - 1) / PAGE);
    const slot = this.slot(p);
    slot.used = ++this.clock;
    if (!slot.lines[(n - 1) % PAGE] && n <= this.total) await this.read(p, true);
    return this.get(n);
  }

  private slot(p: number): PageSlot {
    let slot = this.pages.get(p);
    if (!slot) {
      slot = { lines: [], contiguous: 0, inflight: null, retryAt: 0, used: this.clock };
      this.pages.set(p, slot);
    }
    return slot;
  }

  private read(p: number, force = false): Promise<void> {
    const slot = this.slot(p);
    if (slot.inflight) return slot.inflight;
    if (!force && Date.now() < slot.retryAt) return Promise.resolve();
    const from = p * PAGE + slot.contiguous;
    const limit = PAGE - slot.contiguous;
    if (limit <= 0) return Promise.resolve();
    slot.inflight = (async () => {
      try {
        const res = await fetch(`/api/v1/jobs/${this.jobId}/log?from=${from}&limit=${limit}`, { credentials: "same-origin" });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const page = (await res.json()) as LogPage;
        for (const line of page.lines) {
          const i = line.n - 1 - p * PAGE;
          if (i >= 0 && i < PAGE) slot.lines[i] = line;
        }
        while (slot.contiguous < PAGE && slot.lines[slot.contiguous]) slot.contiguous++;
        if (page.total_lines > this.total) this.total = page.total_lines;
        if (!page.lines.length) slot.retryAt = Date.now() + 1000;
      } catch {
        slot.retryAt = Date.now() + 2000;
      } finally {
        slot.inflight = null;
        this.onChange();
      }
    })();
    return slot.inflight;
  }

  private evict(keep: number): void {
    if (this.pages.size <= this.maxPages) return;
    const victims = [...this.pages.entries()]
      .filter(([, s]) => s.used !== keep && !s.inflight)
      .sort((a, b) => a[1].used - b[1].used);
    for (const [p] of victims.slice(0, this.pages.size - this.maxPages)) this.pages.delete(p);
  }

  /** Pages held, for tests and the perf record. */
  get pagesHeld(): number {
    return this.pages.size;
  }
}
