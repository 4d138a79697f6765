// A job's log lines in the browser, fetched lazily in pages of 10,000 as the viewport needs them
// (by the log worker, which parses and packs them off the main thread), merged with live lines from
// the stream, decoded only when shown, and evicted least-recently-used so a huge log stays small.
import type { LogLine } from "../types.ts";
import { type CompactPage, decodeLine, encodePage } from "./compact.ts";

export const PAGE = 10_000;
const DECODED_MAX = 4000;

/** The worker script's URL, set by ui/build.ts (its name carries a content hash). */
declare const __LOG_WORKER_URL__: string;

interface PageSlot {
  blocks: CompactPage[];
  /** Lines that arrived live, by index in the page. */
  live: (LogLine | undefined)[];
  /** Lines from the page's start known without a gap. */
  contiguous: number;
  inflight: Promise<void> | null;
  /** After an empty or failed read, wait before asking again. */
  retryAt: number;
  used: number;
}

type PageReply = { id: number; page: CompactPage; total: number } | { id: number; error: string };

/** Fetch + parse + pack in a worker when there is one; on the main thread otherwise. */
class PageFetcher {
  private worker: Worker | null = null;
  private next = 1;
  private readonly waiting = new Map<number, (r: PageReply) => void>();

  constructor() {
    try {
      if (typeof __LOG_WORKER_URL__ === "string" && typeof Worker !== "undefined") {
        this.worker = new Worker(__LOG_WORKER_URL__, { type: "module" });
        this.worker.onmessage = (e: MessageEvent<PageReply>) => {
          this.waiting.get(e.data.id)?.(e.data);
          this.waiting.delete(e.data.id);
        };
      }
    } catch {
      this.worker = null;
    }
  }

  async get(url: string): Promise<{ page: CompactPage; total: number }> {
    let reply: PageReply;
    if (this.worker) {
      const id = this.next++;
      reply = await new Promise<PageReply>((resolve) => {
        this.waiting.set(id, resolve);
        this.worker!.postMessage({ id, url });
      });
    } else {
      const res = await fetch(url, { credentials: "same-origin" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as { lines: LogLine[]; total_lines: number };
      reply = { id: 0, page: encodePage(body.lines), total: body.total_lines };
    }
    if ("error" in reply) throw new Error(reply.error);
    return reply;
  }

  close(): void {
    this.worker?.terminate();
  }
}

export class LineStore {
  total = 0;
  private readonly pages = new Map<number, PageSlot>();
  private readonly decoded = new Map<number, LogLine>();
  private readonly fetcher = new PageFetcher();
  private clock = 0;

  constructor(
    private readonly jobId: string,
    private readonly onChange: () => void,
    private readonly maxPages = 16,
  ) {}

  dispose(): void {
    this.fetcher.close();
  }

  get(n: number): LogLine | undefined {
    const hit = this.decoded.get(n);
    if (hit) return hit;
    const p = Math.floor((n - 1) / PAGE);
    const slot = this.pages.get(p);
    if (!slot) return undefined;
    const live = slot.live[(n - 1) % PAGE];
    if (live) return live;
    for (const b of slot.blocks) {
      const line = decodeLine(b, n);
      if (line) {
        // Keep the object stable while it is on screen, so unchanged rows are not redrawn.
        if (this.decoded.size >= DECODED_MAX) this.decoded.clear();
        this.decoded.set(n, line);
        return line;
      }
    }
    return undefined;
  }

  /** A live line from the stream. */
  put(line: LogLine): void {
    const p = Math.floor((line.n - 1) / PAGE);
    const slot = this.slot(p);
    slot.live[(line.n - 1) % PAGE] = line;
    this.decoded.delete(line.n);
    this.advance(slot, p);
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
    if (n <= this.total && n - p * PAGE > slot.contiguous) await this.read(p, true);
    return this.get(n);
  }

  /** Plain text of line n if it is held, without decoding its styles (for search). */
  textOf(n: number): string | undefined {
    const p = Math.floor((n - 1) / PAGE);
    const slot = this.pages.get(p);
    if (!slot) return undefined;
    const live = slot.live[(n - 1) % PAGE];
    if (live) return live.text;
    for (const b of slot.blocks) {
      const i = n - b.first;
      if (i >= 0 && i < b.count) return b.text.slice(b.offsets[i], b.offsets[i + 1]);
    }
    return undefined;
  }

  private slot(p: number): PageSlot {
    let slot = this.pages.get(p);
    if (!slot) {
      slot = { blocks: [], live: [], contiguous: 0, inflight: null, retryAt: 0, used: this.clock };
      this.pages.set(p, slot);
    }
    return slot;
  }

  private advance(slot: PageSlot, p: number): void {
    const base = p * PAGE;
    while (slot.contiguous < PAGE) {
      const next = base + slot.contiguous + 1;
      const block = slot.blocks.find((b) => b.first <= next && next < b.first + b.count);
      if (block) slot.contiguous = Math.min(PAGE, block.first + block.count - 1 - base);
      else if (slot.live[next - 1 - base]) slot.contiguous++;
      else break;
    }
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
        const { page, total } = await this.fetcher.get(
          `/api/v1/jobs/${this.jobId}/log?from=${from}&limit=${limit}`,
        );
        if (page.count) slot.blocks.push(page);
        this.advance(slot, p);
        if (total > this.total) this.total = total;
        if (!page.count) this.retryLater(slot, 1000);
      } catch {
        // The server may be restarting: ask again soon, whether or not the view moves.
        this.retryLater(slot, 2000);
      } finally {
        slot.inflight = null;
        this.onChange();
      }
    })();
    return slot.inflight;
  }

  private retryLater(slot: PageSlot, ms: number): void {
    slot.retryAt = Date.now() + ms;
    setTimeout(() => this.onChange(), ms + 10);
  }

  private evict(keep: number): void {
    if (this.pages.size <= this.maxPages) return;
    const victims = [...this.pages.entries()]
      .filter(([, s]) => s.used !== keep && !s.inflight)
      .sort((a, b) => a[1].used - b[1].used);
    for (const [p] of victims.slice(0, this.pages.size - this.maxPages)) {
      this.pages.delete(p);
      this.decoded.clear();
    }
  }
}
