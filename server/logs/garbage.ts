// When the server asks its runtime for a full collection (RuntimeAdapter.collectGarbage, Bun's).
// What log ingest, archiving and catch-up reads leave behind is mostly array buffers and strings
// (upload bodies, the pipeline's JSON and SSE copies, chunk rows read back): memory the collector
// counts as its heap's "extra memory" but paces badly. Left to JavaScriptCore, a log of only
// newlines (~70 bytes of output per byte of upload) held up to 257 MB of it at once, and one full
// collection ran in its whole ingest (docs/perf.md, memory). Two triggers share one spacing:
// - every GARBAGE_BUDGET_BYTES of upload ingested (the log service counts them as it commits), so
//   ingest's garbage is collected at its own pace;
// - every HEAP_CHECK_MS (less often when a look is slow: LOOK_SPACING), when the heap (extra memory
//   included) has grown HEAP_BUDGET_BYTES past what the last collection left, whatever made it:
//   output-heavy ingest, an archive, a download.
// Either waits COLLECT_SPACING times the last collection's length after it, so collecting never
// takes more than 2 % of the time.

/**
 * Upload bytes ingested between two full collections. A committed upload leaves a few times its size
 * of garbage (its body, the pipeline's JSON and SSE copies): left to the collector, a 1 GB log
 * peaked 65 MB higher (docs/perf.md, memory). A collection costs 20–35 ms of CPU at load 14 (~3 % of
 * a core at 20 MB/s of ingest).
 */
export const GARBAGE_BUDGET_BYTES = 16 * 1024 * 1024;
/** Heap growth (extra memory included) past the last collection's result that asks for the next. */
export const HEAP_BUDGET_BYTES = 32 * 1024 * 1024;
/** How often the heap is looked at, at most (see LOOK_SPACING). */
export const HEAP_CHECK_MS = 100;
/**
 * A look at the heap waits at least this many times as long as the last look took, so looking takes
 * at most 0.5 % of the time. Bun's count of its heap (`bun:jsc` heapSize) walks the heap's blocks:
 * ~0.6 ms for a 500 MB heap, 3.7 ms on average in a server holding 2,000 SSE viewers, where looking
 * every 100 ms took 3.7 % of its time (docs/perf.md, fanout).
 */
export const LOOK_SPACING = 199;
/**
 * A collection stops the server while it runs (55–110 ms of CPU at load 17 with 2,000 SSE viewers):
 * the next waits at least this many times as long as the last took, so collecting never takes more
 * than 1/(1 + this) of the time (2 %); the budgets then stretch with the rate garbage is made.
 */
export const COLLECT_SPACING = 49;

export interface GarbagePacerDeps {
  /** A full collection, now. */
  collect: () => void;
  /**
   * The collector's heap in bytes now, extra memory included: the runtime's (RuntimeAdapter.heapBytes);
   * default `process.memoryUsage().heapUsed`, which under Bun lags it while garbage is made.
   */
  heapBytes?: () => number;
  /** Milliseconds on a monotonic clock (default performance.now). */
  now?: () => number;
  /** Upload bytes between two collections (default GARBAGE_BUDGET_BYTES). */
  budgetBytes?: number;
  /** Heap growth that asks for a collection (default HEAP_BUDGET_BYTES). */
  heapBudgetBytes?: number;
}

export class GarbagePacer {
  /** Upload bytes ingested since the last collection. */
  private uncollected = 0;
  /** Clock time before which no collection is asked for (see COLLECT_SPACING). */
  private collectAfter = Number.NEGATIVE_INFINITY;
  /** The heap's size after the last collection (or when first looked at). */
  private heapAfter: number | null = null;
  /** How long the last look at the heap took, ms. */
  private lookMs = 0;
  private readonly now: () => number;
  private readonly heapBytes: () => number;

  constructor(private readonly deps: GarbagePacerDeps) {
    this.now = deps.now ?? (() => performance.now());
    this.heapBytes = deps.heapBytes ?? (() => process.memoryUsage().heapUsed);
  }

  /** Counts committed upload bytes; past the budget, collects unless the spacing holds it back. */
  ingested(bytes: number): void {
    this.uncollected += bytes;
    if (this.uncollected >= (this.deps.budgetBytes ?? GARBAGE_BUDGET_BYTES)) this.collect();
  }

  /** Looks at the heap; collects when it grew past the budget since the last collection, unless the spacing holds it back. */
  checkHeap(): void {
    const began = this.now();
    const heap = this.heapBytes();
    this.lookMs = this.now() - began;
    if (this.heapAfter === null || heap < this.heapAfter) this.heapAfter = heap;
    if (heap - this.heapAfter >= (this.deps.heapBudgetBytes ?? HEAP_BUDGET_BYTES)) this.collect();
  }

  /** Milliseconds until the next look: `everyMs`, or LOOK_SPACING times the last look's length if longer. */
  nextLookMs(everyMs = HEAP_CHECK_MS): number {
    return Math.max(everyMs, this.lookMs * LOOK_SPACING);
  }

  /** Looks at the heap every HEAP_CHECK_MS or less often (nextLookMs; the timer keeps no process alive); returns the stop. */
  watch(everyMs = HEAP_CHECK_MS): () => void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const next = () => {
      timer = setTimeout(() => {
        try {
          this.checkHeap();
        } catch (err) {
          // A look or collection that failed does not end the watch.
          console.error("the heap watch's look failed; it goes on:", err);
        }
        if (!stopped) next();
      }, this.nextLookMs(everyMs));
      (timer as { unref?: () => void }).unref?.();
    };
    next();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  private collect(): void {
    const began = this.now();
    if (began < this.collectAfter) return;
    this.deps.collect();
    const ended = this.now();
    this.uncollected = 0;
    this.heapAfter = this.heapBytes();
    this.collectAfter = ended + (ended - began) * COLLECT_SPACING;
  }
}
