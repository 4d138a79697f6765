// Groups the lines completed by one push (or flush) into chunks of at most 1,000 lines and
// 64 KiB of text. Mirrored in wasm/assembly/chunker.ts.
import { CHUNK_LIMIT_BYTES, CHUNK_LIMIT_LINES } from "../limits.ts";
import type { LogChunk, LogLine } from "../types.ts";

export class Chunker {
  private chunks: LogChunk[] = [];
  private open: LogLine[] = [];
  private bytes = 0;

  line(line: LogLine, textBytes: number): void {
    if (this.open.length >= CHUNK_LIMIT_LINES || this.bytes + textBytes > CHUNK_LIMIT_BYTES) this.close();
    this.open.push(line);
    this.bytes += textBytes;
  }

  /** The chunks completed so far; the open one is closed so live logs never wait for a full chunk. */
  take(): LogChunk[] {
    this.close();
    const out = this.chunks;
    this.chunks = [];
    return out;
  }

  private close(): void {
    if (this.open.length === 0) return;
    const lines = this.open;
    this.chunks.push({ first: lines[0].n, last: lines[lines.length - 1].n, lines });
    this.open = [];
    this.bytes = 0;
  }
}
