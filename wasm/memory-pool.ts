// Linear memories for the module's instances, kept for reuse. In JavaScriptCore (Bun) making a
// WebAssembly.Memory runs a full collection of the JavaScript heap first: ~60 ms with 165 MB of
// objects, ~200 ms with 650 MB (docs/perf-history.md), which a busy server paid on the event loop
// at every job's first upload. The module imports its memory (wasm/build.mjs), so an instance can
// be handed one that an ended job gave back: zeroed first, so nothing of that job — its log, its
// secrets — is in it, and the new instance finds memory as a fresh one would be, only larger.

/**
 * Memories kept at most, and the largest kept (one that grew past it, for long lines, is let go):
 * an idle server holds at most 16 MiB of them, against the 100 MB it may take idle (docs/perf.md).
 */
export const POOL_MEMORIES = 8;
export const POOL_MEMORY_MAX_BYTES = 2 << 20;

export class MemoryPool {
  private readonly kept: WebAssembly.Memory[] = [];

  /** `pages`: what the module's import asks for at least (importedMemoryPages). */
  constructor(
    private readonly pages: number,
    private readonly most = POOL_MEMORIES,
    private readonly maxBytes = POOL_MEMORY_MAX_BYTES,
  ) {}

  /** A zeroed memory: a kept one, else a new one. */
  take(): WebAssembly.Memory {
    return this.kept.pop() ?? new WebAssembly.Memory({ initial: this.pages });
  }

  /** Back from an instance that is done with it: zeroed and kept, or let go. */
  give(memory: WebAssembly.Memory): void {
    if (this.kept.length >= this.most || memory.buffer.byteLength > this.maxBytes) return;
    new Uint8Array(memory.buffer).fill(0);
    this.kept.push(memory);
  }

  get size(): number {
    return this.kept.length;
  }
}

/** Reads an unsigned LEB128 at `at`; returns the value and where it ends. */
function leb(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = bytes[at++];
    if (b === undefined) throw new Error("wasm module truncated");
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, at];
    scale *= 128;
  }
}

/**
 * The least pages of the memory a compiled module imports, read from its import section; null if it
 * imports none.
 */
export function importedMemoryPages(bytes: Uint8Array): number | null {
  let at = 8; // magic and version
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, body] = leb(bytes, at + 1);
    if (id === 2) {
      let [count, p] = leb(bytes, body);
      for (; count > 0; count--) {
        const [moduleLength, m] = leb(bytes, p);
        const [nameLength, n] = leb(bytes, m + moduleLength);
        p = n + nameLength;
        const kind = bytes[p++];
        if (kind === 0)
          [, p] = leb(bytes, p); // a function: its type
        else if (kind === 1 || kind === 2) {
          if (kind === 1) p++; // a table: its element type
          const flags = bytes[p++];
          const [min, q] = leb(bytes, p);
          p = q;
          if (flags & 1) [, p] = leb(bytes, p);
          if (kind === 2) return min;
        } else if (kind === 3)
          p += 2; // a global: value type and mutability
        else throw new Error(`wasm import of unknown kind ${kind}`);
      }
      return null;
    }
    at = body + size;
  }
  return null;
}
