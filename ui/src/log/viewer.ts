// The log viewer: a virtualised list (fixed row height, only the visible rows in the DOM, a sticky
// canvas over a tall spacer, so even a million lines scroll smoothly), following the tail while the
// job runs (tail.ts), search, and #L123 permalinks.
import { h } from "../dom.ts";
import type { LogLine } from "../types.ts";
import { renderLine } from "./render.ts";
import { LineStore } from "./store.ts";
import { LogTail } from "./tail.ts";

export const ROW_PX = 20; // keep in step with --log-row in styles.css
/** Browsers cap element heights (~16-33 M px); past this the scroll position maps onto lines proportionally. */
const MAX_SPACER_PX = 8_000_000;
const OVERSCAN = 4;

interface Row {
  el: HTMLDivElement;
  ln: HTMLAnchorElement;
  text: HTMLSpanElement;
  n: number;
  /** The line drawn; null until the row is first drawn. */
  line: LogLine | undefined | null;
  needle: string;
  y: string;
  match: boolean;
}

export interface LogViewerOptions {
  jobId: string;
  /** Lines known when the page loaded (the job's log_lines). */
  total: number;
  /** Follow the live stream (the job is not finished). */
  live: boolean;
  onEnd?: (status: string) => void;
  /** New live lines arrived (a step may have started or ended). */
  onLines?: () => void;
}

export class LogViewer {
  readonly el: HTMLElement;
  private readonly scroller: HTMLDivElement;
  private readonly spacer: HTMLDivElement;
  private readonly canvas: HTMLDivElement;
  private readonly rowsEl: HTMLDivElement;
  private readonly status: HTMLElement;
  private readonly followBtn: HTMLButtonElement;
  private readonly searchInput: HTMLInputElement;
  private readonly searchStatus: HTMLElement;
  private readonly store: LineStore;
  private rows: Row[] = [];
  private viewH = 0;
  private frame = 0;
  private following: boolean;
  /** Where the viewer last scrolled itself to while following (to tell the reader's scrolling apart). */
  private autoTop = -1;
  private readonly written = new Map<string, string>();
  private statusText = "";
  private highlighted = 0;
  private needle = "";
  private currentMatch = 0;
  private tail: LogTail | null = null;
  private ended = false;
  private disposed = false;
  private firstPaint = false;
  private readonly resize: ResizeObserver;

  constructor(private readonly opts: LogViewerOptions) {
    this.store = new LineStore(opts.jobId, () => this.schedule());
    this.store.total = opts.total;
    this.following = opts.live;

    this.rowsEl = h("div.log-rows");
    this.canvas = h("div.log-canvas", null, this.rowsEl);
    this.spacer = h("div.log-spacer", null, this.canvas);
    this.scroller = h(
      "div.log-scroller",
      { tabindex: "0", role: "region", "aria-label": "Job log", "aria-describedby": "log-help" },
      this.spacer,
    );
    this.status = h("span.log-status", { role: "status", "aria-live": "polite" });
    this.followBtn = h(
      "button.follow",
      { type: "button", "aria-pressed": String(this.following) },
      "Follow tail",
    );
    this.searchInput = h("input#log-search", {
      type: "search",
      placeholder: "Search the log",
      autocomplete: "off",
    });
    this.searchStatus = h("span.search-status", { "aria-live": "polite" });
    const dl = (format: string, label: string) =>
      h(
        "a.download",
        {
          href: `/api/v1/jobs/${opts.jobId}/log?format=${format}`,
          download: `job-${opts.jobId}.${format === "raw" ? "log" : format === "text" ? "txt" : "html"}`,
        },
        label,
      );
    const searchForm = h(
      "form.log-search",
      { role: "search" },
      h("label.visually-hidden", { for: "log-search" }, "Search the log"),
      this.searchInput,
      h("button", { type: "button", "aria-label": "Previous match", "data-dir": "prev" }, "↑ Prev"),
      h("button", { type: "submit", "aria-label": "Next match" }, "↓ Next"),
      this.searchStatus,
    );
    this.el = h(
      "section.log-viewer",
      { "aria-labelledby": "log-title" },
      h(
        "div.log-toolbar",
        null,
        h("h2#log-title", null, "Log"),
        searchForm,
        h(
          "div.log-actions",
          null,
          this.followBtn,
          h(
            "span.downloads",
            null,
            "Download: ",
            dl("raw", "raw"),
            " ",
            dl("text", "text"),
            " ",
            dl("html", "html"),
          ),
          this.status,
        ),
      ),
      h(
        "p#log-help.visually-hidden",
        null,
        "Scroll with the arrow and page keys. Line numbers are links to the line.",
      ),
      this.scroller,
    );

    this.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    this.followBtn.addEventListener("click", () => this.setFollowing(!this.following));
    searchForm.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.find(1);
    });
    searchForm.querySelector("[data-dir=prev]")!.addEventListener("click", () => void this.find(-1));
    this.searchInput.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.shiftKey) {
        e.preventDefault();
        void this.find(-1);
      }
    });
    this.rowsEl.addEventListener("click", (e) => {
      const a = (e.target as Element).closest("a.ln") as HTMLAnchorElement | null;
      if (!a) return;
      e.preventDefault();
      const n = Number(a.dataset.n);
      history.replaceState(null, "", `#L${n}`);
      this.highlight(n, false);
    });
    this.resize = new ResizeObserver(() => this.measure());
    this.resize.observe(this.scroller);
    window.addEventListener("hashchange", this.onHash);
    this.followBtn.hidden = !opts.live;
    if (opts.live) {
      this.tail = new LogTail(opts.jobId, opts.total, {
        onLine: (line) => {
          this.store.put(line);
          this.schedule();
          this.opts.onLines?.();
        },
        onEnd: (status) => {
          this.ended = true;
          this.following = false;
          this.followBtn.hidden = true;
          this.opts.onEnd?.(status);
          this.schedule();
        },
        onState: () => this.updateStatus(),
      });
    }
    this.updateStatus();
  }

  /** Called once the element is in the document. */
  start(): void {
    this.measure();
    if (!this.onHash()) {
      if (this.following) this.scrollToEnd();
      this.schedule();
    }
  }

  dispose(): void {
    this.disposed = true;
    this.tail?.close();
    this.resize.disconnect();
    this.store.dispose();
    window.removeEventListener("hashchange", this.onHash);
    cancelAnimationFrame(this.frame);
  }

  /** Scrolls to line n and marks it (a permalink, a step's first line). */
  highlight(n: number, scroll = true): void {
    this.highlighted = n;
    this.setFollowing(false);
    if (scroll) this.scrollToLine(n);
    for (const r of this.rows) r.el.classList.toggle("highlighted", r.n === n);
    this.schedule();
  }

  private readonly onHash = (): boolean => {
    const m = /^#L(\d+)$/.exec(location.hash);
    if (!m) return false;
    this.highlight(Number(m[1]));
    return true;
  };

  private setFollowing(on: boolean): void {
    if (!this.opts.live || this.ended) on = false;
    this.following = on;
    this.followBtn.setAttribute("aria-pressed", String(on));
    if (on) this.scrollToEnd();
  }

  private measure(): void {
    this.viewH = this.scroller.clientHeight;
    this.set("canvas", this.canvas, "height", `${this.viewH}px`);
    this.schedule();
  }

  private spacerHeight(): number {
    return Math.max(this.viewH, Math.min(this.store.total * ROW_PX, MAX_SPACER_PX));
  }

  /** Lines per scrolled pixel: 1/ROW_PX until the spacer is capped, then proportionally more. */
  private linesPerPx(): number {
    const range = this.spacerHeight() - this.viewH;
    const lines = this.store.total - this.viewH / ROW_PX;
    return range > 0 && lines > 0 ? lines / range : 0;
  }

  private scrollToLine(n: number): void {
    this.set("spacer", this.spacer, "height", `${this.spacerHeight()}px`);
    const target = n - 1 - this.viewH / ROW_PX / 2 + 0.5;
    const lpp = this.linesPerPx();
    this.scroller.scrollTop = lpp > 0 ? Math.max(0, target / lpp) : 0;
  }

  private scrollToEnd(): void {
    this.set("spacer", this.spacer, "height", `${this.spacerHeight()}px`);
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.autoTop = this.scroller.scrollTop;
  }

  private atEnd(): boolean {
    return this.scroller.scrollTop + this.viewH >= this.scroller.scrollHeight - ROW_PX;
  }

  /** Following stops when the reader moves away from where we last put the view; it resumes at the end. */
  private checkFollowing(): void {
    if (!this.opts.live || this.ended) return;
    const top = this.scroller.scrollTop;
    const moved = Math.abs(top - this.autoTop) > 1;
    if (this.following && moved && !this.atEnd()) this.setFollowing(false);
    else if (!this.following && this.atEnd()) this.setFollowing(true);
  }

  private onScroll(): void {
    this.checkFollowing();
    this.schedule();
  }

  private schedule(): void {
    if (this.frame || this.disposed) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Writes a style only when it changes: each write invalidates style, which a million-line scroll can't afford per frame. */
  private set(key: string, el: HTMLElement, prop: string, value: string): void {
    if (this.written.get(key) === value) return;
    this.written.set(key, value);
    el.style.setProperty(prop, value);
  }

  private draw(): void {
    const total = this.store.total;
    this.set("spacer", this.spacer, "height", `${this.spacerHeight()}px`);
    this.set("ln", this.el, "--ln-chars", String(Math.max(4, String(total).length + 1)));
    this.checkFollowing();
    if (this.following) {
      this.scroller.scrollTop = this.scroller.scrollHeight;
      this.autoTop = this.scroller.scrollTop;
    }
    const firstF = this.scroller.scrollTop * this.linesPerPx();
    const first = Math.floor(firstF);
    const count = Math.min(total - first, Math.ceil(this.viewH / ROW_PX) + 1);
    this.store.want(first + 1 - OVERSCAN, first + count + OVERSCAN);
    while (this.rows.length < Math.max(0, count)) this.rows.push(this.makeRow());
    let painted = false;
    for (let i = 0; i < this.rows.length; i++) {
      const row = this.rows[i];
      if (i >= count) {
        if (!row.el.hidden) row.el.hidden = true;
        continue;
      }
      const n = first + i + 1;
      if (row.el.hidden) row.el.hidden = false;
      const y = `translateY(${Math.round((first + i - firstF) * ROW_PX)}px)`;
      if (row.y !== y) {
        row.y = y;
        row.el.style.transform = y;
      }
      const line = this.store.get(n);
      if (row.n !== n) {
        row.n = n;
        row.ln.dataset.n = String(n);
        row.ln.href = `#L${n}`;
        row.ln.textContent = String(n);
        row.el.classList.toggle("highlighted", n === this.highlighted);
      }
      const needle = this.needle;
      if (row.line !== line || row.needle !== needle) {
        row.line = line;
        row.needle = needle;
        if (line) renderLine(row.text, line, needle);
        else row.text.textContent = "";
        row.el.classList.toggle("pending", !line);
      }
      const match = n === this.currentMatch;
      if (row.match !== match) {
        row.match = match;
        row.el.classList.toggle("current-match", match);
      }
      if (line) painted = true;
    }
    if (painted && !this.firstPaint) {
      this.firstPaint = true;
      performance.mark("cairn:log-first-lines");
      this.el.dataset.ready = "true";
    }
    this.updateStatus();
  }

  private makeRow(): Row {
    const ln = h("a.ln", { href: "#" });
    const text = h("span.lt");
    const el = h("div.log-row", null, ln, text);
    this.rowsEl.appendChild(el);
    return { el, ln, text, n: 0, line: null, needle: "", y: "", match: false };
  }

  private updateStatus(): void {
    const state = this.ended
      ? "finished"
      : this.opts.live
        ? this.tail?.open
          ? "live"
          : "connecting"
        : "finished";
    const key = `${this.store.total}:${state}`;
    if (key === this.statusText) return;
    this.statusText = key;
    this.status.textContent = `${this.store.total.toLocaleString()} lines · ${state}`;
    this.el.dataset.lines = String(this.store.total);
    this.el.dataset.state = state;
  }

  // Search ----------------------------------------------------------------------------------

  private async find(dir: 1 | -1): Promise<void> {
    const needle = this.searchInput.value.toLowerCase();
    if (needle !== this.needle) {
      this.needle = needle;
      this.currentMatch = 0;
    }
    if (!needle) {
      this.searchStatus.textContent = "";
      this.schedule();
      return;
    }
    const total = this.store.total;
    const startAt =
      this.currentMatch ||
      (dir === 1
        ? Math.max(1, Math.floor(this.scroller.scrollTop * this.linesPerPx()))
        : Math.floor(this.scroller.scrollTop * this.linesPerPx()) + 1);
    this.searchStatus.textContent = "Searching…";
    let n = this.currentMatch ? startAt + dir : startAt;
    for (let scanned = 0; scanned < total; scanned++, n += dir) {
      if (n > total) n = 1;
      if (n < 1) n = total;
      let text = this.store.textOf(n);
      if (text === undefined) {
        text = (await this.store.ensure(n))?.text;
        if (this.disposed || needle !== this.needle) return;
      }
      if (text?.toLowerCase().includes(needle)) {
        this.currentMatch = n;
        this.searchStatus.textContent = `Match on line ${n.toLocaleString()}`;
        this.setFollowing(false);
        this.scrollToLine(n);
        this.schedule();
        return;
      }
      // Yield now and then so a long search never blocks the page.
      if (scanned % 5000 === 4999) await new Promise((r) => setTimeout(r, 0));
    }
    this.currentMatch = 0;
    this.searchStatus.textContent = "No matches";
    this.schedule();
  }
}
