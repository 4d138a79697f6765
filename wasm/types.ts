// The log pipeline's contract: what the server feeds it and what comes out.
// Implemented twice with identical output: the AssemblyScript module (wasm/assembly) and the
// TypeScript reference (wasm/reference), which is the oracle in tests and the benchmark baseline.

/** A style run over [start, end) UTF-16 code units of a line's text. Only set fields are present. */
export interface Span {
  start: number;
  end: number;
  /** Foreground/background: 0-15 for the 16 ANSI colours, 16-255 for the 256 palette, or "#rrggbb". */
  fg?: number | string;
  bg?: number | string;
  bold?: true;
  dim?: true;
  italic?: true;
  underline?: true;
  inverse?: true;
  strike?: true;
  /** OSC 8 hyperlink target (http/https only). */
  href?: string;
}

export interface LogLine {
  /** 1-based line number within the job's log. */
  n: number;
  /** Plain text: no ESC or C0 control characters; secrets replaced by ********. */
  text: string;
  spans: Span[];
  /** True when this line continues the previous one (a line over 64 KiB was split). */
  cont?: true;
}

/** A bounded group of consecutive lines (<= 64 KiB of text, <= 1,000 lines), ready to persist and fan out. */
export interface LogChunk {
  first: number;
  last: number;
  lines: LogLine[];
}

/** One job's streaming pipeline: mask secrets on raw bytes, parse ANSI, split lines, group chunks. */
export interface LogPipeline {
  /** Registers a secret (and its derived forms) for everything pushed from now on. */
  addSecret(value: string): void;
  /** Feeds raw bytes in any chunking; returns the chunks of lines completed so far. */
  push(bytes: Uint8Array): LogChunk[];
  /** Releases held-back bytes and the partial last line (end of step, idle deadline, end of log). */
  flush(): LogChunk[];
  /** Frees the pipeline's memory; it must not be used afterwards. */
  dispose(): void;
  /**
   * Optional fast path: push, but the chunks come back as UTF-8 JSON (an array of LogChunk)
   * ready to persist or fan out, without building objects. The WASM pipeline writes it
   * straight from linear memory; the view is only valid until the pipeline's next call.
   */
  pushJson?(bytes: Uint8Array): Uint8Array;
  /** flush, as JSON; same rules as pushJson. */
  flushJson?(): Uint8Array;
}

export interface LogPipelineOptions {
  secrets?: string[];
  /** Number of the first line this pipeline will emit (to resume a job's log). Default 1. */
  firstLine?: number;
}
