import { describe, expect, spyOn, test } from "bun:test";
import { COLLECT_SPACING, GarbagePacer, HEAP_CHECK_MS, LOOK_SPACING } from "./garbage.ts";

const MB = 1024 * 1024;

/** A pacer over a heap and a clock the test moves; each collection takes `gcMs` and leaves `live` bytes. */
function pacer(opts: { heapBudgetBytes?: number; budgetBytes?: number; gcMs?: number; live?: number } = {}) {
  const state = { heap: 0, clock: 0, live: opts.live ?? 10 * MB, collections: [] as number[] };
  const p = new GarbagePacer({
    collect: () => {
      state.collections.push(state.clock);
      state.clock += opts.gcMs ?? 10;
      state.heap = state.live;
    },
    heapBytes: () => state.heap,
    now: () => state.clock,
    heapBudgetBytes: opts.heapBudgetBytes,
    budgetBytes: opts.budgetBytes,
  });
  return { p, state };
}

/** A pacer whose heap is always empty, counting its looks; the `failing`-th look throws. */
function lookingPacer(failing?: number) {
  let looks = 0;
  const p = new GarbagePacer({
    collect: () => {},
    heapBytes: () => {
      looks++;
      if (looks === failing) throw new Error("the runtime could not say");
      return 0;
    },
  });
  return { p, looks: () => looks };
}

describe("the heap watch", () => {
  test("collects once the heap grew the budget past what the last collection left, not before", () => {
    const { p, state } = pacer({ heapBudgetBytes: 32 * MB });
    state.heap = 10 * MB;
    p.checkHeap(); // the first look sets the level
    state.heap = 41 * MB;
    state.clock += 100;
    p.checkHeap();
    expect(state.collections).toEqual([]);
    state.heap = 42 * MB;
    state.clock += 100;
    p.checkHeap();
    expect(state.collections).toHaveLength(1);
    // The next is measured from what the collection left (10 MB), however high the heap had been.
    state.clock += 10_000;
    state.heap = 41 * MB;
    p.checkHeap();
    expect(state.collections).toHaveLength(1);
    state.heap = 43 * MB;
    p.checkHeap();
    expect(state.collections).toHaveLength(2);
  });

  test("a heap that shrank on its own lowers the level the budget counts from", () => {
    const { p, state } = pacer({ heapBudgetBytes: 32 * MB });
    state.heap = 100 * MB;
    p.checkHeap();
    state.heap = 20 * MB; // the runtime collected by itself
    p.checkHeap();
    state.heap = 53 * MB;
    state.clock += 100;
    p.checkHeap();
    expect(state.collections).toHaveLength(1);
  });

  test("garbage made faster than the budget allows is collected at most 2 % of the time", () => {
    const { p, state } = pacer({ heapBudgetBytes: 32 * MB, gcMs: 20 });
    // 500 MB of garbage a second, looked at every 100 ms for a minute.
    for (let t = 0; t < 600; t++) {
      state.clock += 100;
      state.heap += 50 * MB;
      p.checkHeap();
    }
    const gaps = state.collections.slice(1).map((at, i) => at - state.collections[i]);
    expect(state.collections.length).toBeGreaterThan(10);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(20 * (COLLECT_SPACING + 1));
    expect((state.collections.length * 20) / state.clock).toBeLessThanOrEqual(0.02);
  });

  test("ingest and the watch share the spacing; a collection by either resets both budgets", () => {
    const { p, state } = pacer({ heapBudgetBytes: 32 * MB, budgetBytes: 16 * MB, gcMs: 10 });
    state.heap = 10 * MB;
    p.checkHeap();
    p.ingested(16 * MB); // ingest's budget: collects
    expect(state.collections).toHaveLength(1);
    state.heap = 50 * MB; // past the heap budget, but within the spacing (49 × 10 ms)
    state.clock += 100;
    p.checkHeap();
    expect(state.collections).toHaveLength(1);
    state.clock += 400;
    p.checkHeap();
    expect(state.collections).toHaveLength(2);
    // That collection reset ingest's count too: 15 MB more is not yet its budget.
    state.clock += 1000;
    p.ingested(15 * MB);
    expect(state.collections).toHaveLength(2);
    p.ingested(1 * MB);
    expect(state.collections).toHaveLength(3);
  });

  test("a heap slow to look at is looked at less often: looking takes at most 0.5 % of the time", () => {
    let clock = 0;
    let lookMs = 0.1;
    const p = new GarbagePacer({
      collect: () => {},
      heapBytes: () => {
        clock += lookMs;
        return 0;
      },
      now: () => clock,
    });
    p.checkHeap();
    expect(p.nextLookMs()).toBe(HEAP_CHECK_MS); // 0.1 ms: every 100 ms
    lookMs = 6; // a big heap whose count walks its blocks
    p.checkHeap();
    expect(p.nextLookMs()).toBeCloseTo(6 * LOOK_SPACING, 6);
    expect(lookMs / (lookMs + p.nextLookMs())).toBeLessThanOrEqual(0.005);
    lookMs = 0.2;
    p.checkHeap();
    expect(p.nextLookMs()).toBe(HEAP_CHECK_MS);
  });

  test("a look that throws does not end the watch", async () => {
    const { p, looks } = lookingPacer(1);
    const said = spyOn(console, "error").mockImplementation(() => {});
    const stop = p.watch(5);
    try {
      for (let i = 0; i < 100 && looks() < 3; i++) await Bun.sleep(5);
      expect(looks()).toBeGreaterThanOrEqual(3);
      expect(said).toHaveBeenCalledTimes(1);
    } finally {
      stop();
      said.mockRestore();
    }
  });

  test("watch looks on a timer until stopped", async () => {
    const { p, looks } = lookingPacer();
    const stop = p.watch(5);
    await Bun.sleep(60);
    stop();
    const seen = looks();
    expect(seen).toBeGreaterThanOrEqual(1);
    await Bun.sleep(30);
    expect(looks()).toBe(seen);
  });
});
