// The WASM-backed pipeline: the module is compiled once and instantiated per job, so each
// job's memory is its own while the job runs; dispose hands it back to the pool, zeroed
// (memory-pool.ts). Bytes go in through the module's input buffer; lines come out as one JSON
// text per push, decoded with a single JSON.parse.

import { concatBytes } from "./bytes.ts";
import { derivedForms } from "./derive.ts";
import { PUSH_PIECE_BYTES } from "./limits.ts";
import type { MemoryPool } from "./memory-pool.ts";
import type { LogChunk, LogPipeline, LogPipelineOptions } from "./types.ts";

interface Exports {
  memory: WebAssembly.Memory;
  init(firstLine: number): void;
  scratchFor(n: number): number;
  addSecretPattern(len: number): void;
  rebuild(): void;
  reserve(n: number): number;
  push(n: number): void;
  flush(): void;
  take(): number;
  outputPtr(): number;
  renderSse(): number;
  ssePtr(): number;
  clearOutput(): void;
}

const decoder = new TextDecoder();

export class WasmPipeline implements LogPipeline {
  private ex: Exports | null;
  private dirty = false;
  private readonly memory: WebAssembly.Memory;

  constructor(
    module: WebAssembly.Module,
    opts: LogPipelineOptions,
    private readonly memories: MemoryPool,
  ) {
    this.memory = memories.take();
    this.ex = new WebAssembly.Instance(module, { env: { memory: this.memory } })
      .exports as unknown as Exports;
    this.ex.init(opts.firstLine ?? 1);
    for (const s of opts.secrets ?? []) this.addSecret(s);
  }

  addSecret(value: string): void {
    const ex = this.live();
    for (const form of derivedForms(value)) {
      const at = ex.scratchFor(form.length);
      new Uint8Array(ex.memory.buffer, at, form.length).set(form);
      ex.addSecretPattern(form.length);
      // Rebuilt lazily so adding many secrets in a row costs one build.
      this.dirty = true;
    }
  }

  push(bytes: Uint8Array): LogChunk[] {
    return JSON.parse(decoder.decode(this.pushJson(bytes))) as LogChunk[];
  }

  flush(): LogChunk[] {
    return JSON.parse(decoder.decode(this.flushJson())) as LogChunk[];
  }

  /** Like push, but returns the chunks' JSON (an array) as a view valid until the next call. */
  pushJson(bytes: Uint8Array): Uint8Array {
    return this.pushPieces(bytes);
  }

  /**
   * Like pushJson, but as one JSON array per piece (see PUSH_PIECE_BYTES: a chunk never spans two
   * pieces), each a copy the caller owns, so nothing is copied twice to join them; and the same
   * lines as Server-Sent Events (`event: line`, `data:` the text, `id:` the number;
   * server/logs/sse.ts), rendered by the module into a buffer of their own. Pieces that made no
   * line are left out.
   */
  pushLive(bytes: Uint8Array): { json: Uint8Array[]; sse: Uint8Array } {
    const ex = this.prepared();
    const json: Uint8Array[] = [];
    const sse: Uint8Array[] = [];
    let at = 0;
    do {
      const piece = this.piece(ex, bytes.subarray(at, at + PUSH_PIECE_BYTES), sse);
      if (piece.length > 2) json.push(piece.slice());
      at += PUSH_PIECE_BYTES;
    } while (at < bytes.length);
    const rendered = sse.filter((b) => b.length > 0);
    return { json, sse: concatBytes(rendered) };
  }

  private prepared(): Exports {
    const ex = this.live();
    if (this.dirty) {
      ex.rebuild();
      this.dirty = false;
    }
    return ex;
  }

  private pushPieces(bytes: Uint8Array): Uint8Array {
    const ex = this.prepared();
    if (bytes.length <= PUSH_PIECE_BYTES) return this.piece(ex, bytes);
    // Piece by piece (see PUSH_PIECE_BYTES), joining the pieces' arrays into one.
    const parts: Uint8Array[] = [];
    let size = 2;
    for (let at = 0; at < bytes.length; at += PUSH_PIECE_BYTES) {
      const json = this.piece(ex, bytes.subarray(at, at + PUSH_PIECE_BYTES));
      if (json.length > 2) {
        parts.push(json.slice(1, -1));
        size += json.length - 1;
      }
    }
    const out = new Uint8Array(Math.max(2, size - 1));
    out[0] = 0x5b;
    let at = 1;
    parts.forEach((part, i) => {
      if (i > 0) out[at++] = 0x2c;
      out.set(part, at);
      at += part.length;
    });
    out[at] = 0x5d;
    return out;
  }

  private piece(ex: Exports, bytes: Uint8Array, sse?: Uint8Array[]): Uint8Array {
    ex.clearOutput();
    const to = ex.reserve(bytes.length);
    new Uint8Array(ex.memory.buffer, to, bytes.length).set(bytes);
    ex.push(bytes.length);
    const n = ex.take();
    if (sse) {
      // Rendering may grow the memory, which detaches views made before it: the JSON's view after.
      const m = ex.renderSse();
      sse.push(new Uint8Array(ex.memory.buffer, ex.ssePtr(), m).slice());
    }
    return new Uint8Array(ex.memory.buffer, ex.outputPtr(), n);
  }

  flushJson(): Uint8Array {
    const ex = this.prepared();
    ex.clearOutput();
    ex.flush();
    return this.output(ex);
  }

  /** Ends the pipeline; its memory goes back to the pool, so views it handed out end too. */
  dispose(): void {
    if (!this.ex) return;
    this.ex = null;
    this.memories.give(this.memory);
  }

  private output(ex: Exports): Uint8Array {
    const n = ex.take();
    return new Uint8Array(ex.memory.buffer, ex.outputPtr(), n);
  }

  private live(): Exports {
    if (!this.ex) throw new Error("log pipeline used after dispose");
    return this.ex;
  }
}
