// The pure-TypeScript log pipeline: the oracle the WASM module is diffed against, and the
// benchmark's baseline. Same stages, same output: mask → parse → lines → chunks.
import { derivedForms } from "../derive.ts";
import { MASK, PUSH_PIECE_BYTES } from "../limits.ts";
import type { LogChunk, LogPipeline, LogPipelineOptions } from "../types.ts";
import { Chunker } from "./chunker.ts";
import { Line } from "./line.ts";
import { type ByteSink, Masker } from "./masker.ts";
import { Parser } from "./parser.ts";
import { StyleTable } from "./style.ts";

const utf8 = new TextEncoder();
const MASK_BYTES = utf8.encode(MASK);

export function createReferencePipeline(opts: LogPipelineOptions = {}): LogPipeline {
  return new ReferencePipeline(opts);
}

class ReferencePipeline implements LogPipeline, ByteSink {
  private readonly masker = new Masker();
  private readonly chunker = new Chunker();
  private readonly line: Line;
  private readonly parser: Parser;
  private patterns: Uint8Array[] = [];
  private dirty = false;
  private disposed = false;

  constructor(opts: LogPipelineOptions) {
    const styles = new StyleTable();
    const automaton = () => this.masker.automaton;
    this.line = new Line(styles, this.chunker, opts.firstLine ?? 1, automaton);
    this.parser = new Parser(this.line, styles, automaton);
    for (const s of opts.secrets ?? []) this.addSecret(s);
  }

  addSecret(value: string): void {
    const forms = derivedForms(value);
    if (forms.length === 0) return;
    this.patterns.push(...forms);
    // Rebuilt lazily so adding many secrets in a row costs one build.
    this.dirty = true;
  }

  push(bytes: Uint8Array): LogChunk[] {
    this.check();
    if (bytes.length <= PUSH_PIECE_BYTES) {
      this.masker.push(bytes, this);
      return this.chunker.take();
    }
    const out: LogChunk[] = [];
    for (let at = 0; at < bytes.length; at += PUSH_PIECE_BYTES) {
      this.masker.push(bytes.subarray(at, at + PUSH_PIECE_BYTES), this);
      for (const c of this.chunker.take()) out.push(c);
    }
    return out;
  }

  flush(): LogChunk[] {
    this.check();
    this.masker.flush(this);
    this.parser.finish();
    this.line.finish();
    return this.chunker.take();
  }

  pushJson(bytes: Uint8Array): Uint8Array {
    return utf8.encode(JSON.stringify(this.push(bytes)));
  }

  flushJson(): Uint8Array {
    return utf8.encode(JSON.stringify(this.flush()));
  }

  dispose(): void {
    this.disposed = true;
    this.patterns = [];
  }

  bytes(buf: Uint8Array, start: number, end: number): void {
    this.parser.feed(buf, start, end);
  }

  mask(): void {
    this.parser.feed(MASK_BYTES, 0, MASK_BYTES.length);
  }

  private check(): void {
    if (this.disposed) throw new Error("log pipeline used after dispose");
    if (this.dirty) {
      this.masker.setPatterns(this.patterns);
      this.dirty = false;
    }
  }
}
