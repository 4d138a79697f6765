// Streams a job's output to the server as offset-addressed chunks. Bytes stay buffered until the
// server acknowledges them (persisted); after a lost connection or a 416 the upload resumes at
// the server's offset, so nothing is lost or sent twice. When the server sheds load (503 with a
// wait) the upload waits as told; what the job prints meanwhile is held in memory up to a bound,
// then in a spill file, so a slow server costs this host disk, never unbounded memory.
import { closeSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServerClient } from "./client.ts";

const MAX_UPLOAD = 1024 * 1024;
/**
 * The least an upload sends after a short acknowledgement (a server takes at least one 64 KiB piece
 * of a body, wasm/limits.ts's PUSH_PIECE_BYTES).
 */
const MIN_UPLOAD = 64 * 1024;
const FLUSH_MS = 100;
/** Unacknowledged bytes held in memory; past it, output goes to the spill file until that is sent. */
export const LOG_MEMORY_BYTES = 8 * 1024 * 1024;

export interface LogUploaderOptions {
  /** Default LOG_MEMORY_BYTES. */
  memoryBytes?: number;
  /** Where the spill file goes (it is unlinked as soon as it is open). Default the system's temp dir. */
  spillDir?: string;
}

/** Output written past the memory bound: bytes [start, start + size) of the log, in an unlinked file. */
interface Spill {
  fd: number;
  start: number;
  size: number;
}

export class LogUploader {
  /** Bytes [acked, acked + memBytes) of the log; when there is a spill, all of them come before it. */
  private pending: Uint8Array[] = [];
  private memBytes = 0;
  private spill: Spill | null = null;
  /** Byte offset of the first unacknowledged byte == what the server has acknowledged. */
  private acked = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sending: Promise<void> | null = null;
  /**
   * Bytes the next upload sends, at most: MAX_UPLOAD, or after a short acknowledgement about what the
   * server took (it stops an upload whose output passes its budgets: ~70× its size for a log of
   * empty lines). Resending the whole rest each time sent 16× the log; it doubles again while the
   * server takes every byte.
   */
  private uploadBytes = MAX_UPLOAD;
  private readonly memoryBytes: number;
  private readonly spillDir: string;
  /** The most bytes ever spilled at once (for tests and the report). */
  spillPeak = 0;

  constructor(
    private readonly client: ServerClient,
    private readonly jobId: string,
    private readonly onFatal: (err: unknown) => void = () => {},
    opts: LogUploaderOptions = {},
  ) {
    this.memoryBytes = opts.memoryBytes ?? LOG_MEMORY_BYTES;
    this.spillDir = opts.spillDir ?? tmpdir();
  }

  /** Bytes written so far (acknowledged or not): the offset the next byte will have. */
  get offset(): number {
    return this.spill ? this.spill.start + this.spill.size : this.acked + this.memBytes;
  }

  /** Bytes the server has acknowledged (persisted). */
  get acknowledged(): number {
    return this.acked;
  }

  /** Unacknowledged bytes held in memory: never more than the bound (plus one write). */
  get memoryHeld(): number {
    return this.memBytes;
  }

  /** Unacknowledged bytes in the spill file. */
  get spilled(): number {
    return this.spill ? this.spill.start + this.spill.size - Math.max(this.acked, this.spill.start) : 0;
  }

  private get pendingBytes(): number {
    return this.offset - this.acked;
  }

  write(bytes: Uint8Array | string): void {
    const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    if (b.length === 0) return;
    if (this.spill || this.memBytes + b.length > this.memoryBytes) this.toSpill(b);
    else {
      this.pending.push(b);
      this.memBytes += b.length;
    }
    if (this.pendingBytes >= MAX_UPLOAD) this.kick();
    else if (!this.timer) this.timer = setTimeout(() => this.kick(), FLUSH_MS);
  }

  private toSpill(b: Uint8Array): void {
    if (!this.spill) {
      const path = join(this.spillDir, `cairn-log-${this.jobId}-${crypto.randomUUID()}.spill`);
      const fd = openSync(path, "w+", 0o600);
      unlinkSync(path); // gone with the process, whatever happens
      this.spill = { fd, start: this.acked + this.memBytes, size: 0 };
    }
    for (let at = 0; at < b.length; )
      at += writeSync(this.spill.fd, b, at, b.length - at, this.spill.size + at);
    this.spill.size += b.length;
    this.spillPeak = Math.max(this.spillPeak, this.spilled);
  }

  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.sending) {
      this.sending = this.sendAll()
        .catch((err) => {
          this.closeSpill();
          this.onFatal(err);
        })
        .finally(() => {
          this.sending = null;
          if (this.pendingBytes > 0) this.kick();
        });
    }
  }

  private async sendAll(): Promise<void> {
    while (this.pendingBytes > 0) {
      const body = this.take(this.uploadBytes);
      const at = this.acked;
      const r = await this.client.retrying(() => this.client.log(this.jobId, at, body));
      this.ack(r.offset);
      const taken = r.offset - at;
      this.uploadBytes =
        taken < body.length
          ? Math.min(MAX_UPLOAD, Math.max(MIN_UPLOAD, taken))
          : Math.min(MAX_UPLOAD, this.uploadBytes * 2);
    }
  }

  /** Up to `max` bytes from the acknowledged offset, without consuming them: memory first, then the spill. */
  private take(max: number): Uint8Array {
    if (this.memBytes === 0 && this.spill) {
      const from = this.acked - this.spill.start;
      const out = new Uint8Array(Math.min(max, this.spill.size - from));
      for (let got = 0; got < out.length; ) {
        const n = readSync(this.spill.fd, out, got, out.length - got, from + got);
        if (n === 0) throw new Error("the log spill file is shorter than written");
        got += n;
      }
      return out;
    }
    const n = Math.min(max, this.memBytes);
    const out = new Uint8Array(n);
    let filled = 0;
    for (const part of this.pending) {
      if (filled >= n) break;
      const slice = part.subarray(0, n - filled);
      out.set(slice, filled);
      filled += slice.length;
    }
    return out;
  }

  /** Drops pending bytes below the server's offset: from memory, then from the spill. */
  private ack(serverOffset: number): void {
    if (serverOffset < this.acked) {
      throw new Error(
        `server acknowledged offset ${serverOffset} below ${this.acked}: the log cannot be resumed`,
      );
    }
    let drop = serverOffset - this.acked;
    while (drop > 0 && this.pending.length > 0) {
      const head = this.pending[0];
      if (head.length <= drop) {
        this.pending.shift();
        drop -= head.length;
        this.memBytes -= head.length;
        this.acked += head.length;
      } else {
        this.pending[0] = head.subarray(drop);
        this.memBytes -= drop;
        this.acked += drop;
        drop = 0;
      }
    }
    if (drop > 0 && this.spill) {
      const n = Math.min(drop, this.spilled);
      this.acked += n;
      if (this.spilled === 0) this.closeSpill(); // caught up: output goes to memory again
    }
  }

  private closeSpill(): void {
    if (!this.spill) return;
    closeSync(this.spill.fd);
    this.spill = null;
  }

  /** Resolves when every byte written so far is acknowledged. */
  async drain(): Promise<void> {
    while (this.pendingBytes > 0 || this.sending) {
      this.kick();
      await this.sending;
    }
  }
}
