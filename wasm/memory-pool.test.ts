// The pool of linear memories the module's instances are given (memory-pool.ts): reused, zeroed,
// nothing of one job in the next.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
// @ts-expect-error plain ESM build script without type declarations
import { buildWasm } from "./build.mjs";
import { loadLogPipeline, type WasmPipeline } from "./index.ts";
import { importedMemoryPages, MemoryPool } from "./memory-pool.ts";
import { enc } from "./testing.ts";

const factory = await loadLogPipeline();
const memoryOf = (p: WasmPipeline) => (p as unknown as { memory: WebAssembly.Memory }).memory;
const dec = new TextDecoder();

/** Whether `needle` occurs anywhere in the memory's bytes. */
function holds(memory: WebAssembly.Memory, needle: string): boolean {
  return Buffer.from(memory.buffer).includes(Buffer.from(needle));
}

describe("memory pool", () => {
  test("an ended job's memory is the next job's, zeroed: none of its log or secrets, none of its state", () => {
    const secret = "hunter2-pool-secret";
    const input = enc.encode(`\x1b[1mtoken ${secret}\x1b[0m and \x1b[32mgreen\n`.repeat(200));
    const first = factory.create({ secrets: [secret] }) as WasmPipeline;
    const firstOut = dec.decode(first.pushJson(input)) + dec.decode(first.flushJson());
    expect(firstOut).not.toContain(secret);
    const memory = memoryOf(first);
    expect(holds(memory, secret)).toBe(true); // the pattern and the raw input were in it
    first.dispose();
    expect(holds(memory, secret)).toBe(false);
    expect(new Uint8Array(memory.buffer).every((b) => b === 0)).toBe(true);

    // The next pipeline gets that memory; without the secret it shows the text, exactly as one with
    // another memory does.
    const second = factory.create() as WasmPipeline;
    expect(memoryOf(second)).toBe(memory);
    const other = factory.create() as WasmPipeline;
    expect(memoryOf(other)).not.toBe(memory);
    const secondOut = dec.decode(second.pushJson(input)) + dec.decode(second.flushJson());
    expect(secondOut).toContain(secret);
    expect(secondOut).toBe(dec.decode(other.pushJson(input)) + dec.decode(other.flushJson()));
    second.dispose();
    other.dispose();
  });

  test("a pipeline disposed twice gives its memory back once", () => {
    const p = factory.create() as WasmPipeline;
    p.dispose();
    p.dispose();
    const a = factory.create() as WasmPipeline;
    const b = factory.create() as WasmPipeline;
    expect(memoryOf(a)).not.toBe(memoryOf(b));
    a.dispose();
    b.dispose();
  });

  test("a memory that grew past the largest kept, or one more than the pool keeps, is let go", () => {
    const pool = new MemoryPool(1, 2, 2 << 16);
    const grown = pool.take();
    grown.grow(2);
    pool.give(grown);
    expect(pool.size).toBe(0);
    const kept = [pool.take(), pool.take(), pool.take()];
    new Uint8Array(kept[0].buffer).fill(7);
    for (const m of kept) pool.give(m);
    expect(pool.size).toBe(2);
    const again = pool.take();
    expect(kept).toContain(again);
    expect(new Uint8Array(again.buffer).every((b) => b === 0)).toBe(true);
  });

  test("the module's memory import is read from its import section", async () => {
    const bytes = readFileSync(await buildWasm());
    const pages = importedMemoryPages(bytes);
    expect(pages).toBeGreaterThanOrEqual(1);
    // A memory of that size is enough for it: an instance links.
    const module = new WebAssembly.Module(bytes);
    expect(
      () =>
        new WebAssembly.Instance(module, {
          env: { memory: new WebAssembly.Memory({ initial: pages ?? 0 }) },
        }),
    ).not.toThrow();
    // (module (import "a" "f" (func)) (import "a" "t" (table 2 5 funcref)) (import "a" "m" (memory 3 9))) with its type
    const hand = new Uint8Array([
      0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 2, 0x18, 3, 1, 0x61, 1, 0x66, 0, 0, 1, 0x61, 1,
      0x74, 1, 0x70, 1, 2, 5, 1, 0x61, 1, 0x6d, 2, 1, 3, 9,
    ]);
    expect(WebAssembly.validate(hand)).toBe(true);
    expect(importedMemoryPages(hand)).toBe(3);
    expect(importedMemoryPages(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))).toBeNull();
  });
});
