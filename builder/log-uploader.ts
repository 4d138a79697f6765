// Streams a job's output to the server as offset-addressed chunks. Bytes stay buffered until the
// server acknowledges them (persisted); after a lost connection or a 416 the upload resumes at
// the server's offset, so nothing is lost or sent twice.
import type { ServerClient } from "./client.ts";

const MAX_UPLOAD = 1024 * 1024;
const FLUSH_MS = 100;

export class LogUploader {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Byte offset of pending[0][0] in the job's log == what the server has acknowledged. */
  private acked = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sending: Promise<void> | null = null;

  constructor(
    private readonly client: ServerClient,
    private readonly jobId: string,
    private readonly onFatal: (err: unknown) => void = () => {},
  ) {}

  /** Bytes written so far (acknowledged or not): the offset the next byte will have. */
  get offset(): number {
    return this.acked + this.pendingBytes;
  }

  /** Bytes the server has acknowledged (persisted). */
  get acknowledged(): number {
    return this.acked;
  }

  write(bytes: Uint8Array | string): void {
    const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    if (b.length === 0) return;
    this.pending.push(b);
    this.pendingBytes += b.length;
    if (this.pendingBytes >= MAX_UPLOAD) this.kick();
    else if (!this.timer) this.timer = setTimeout(() => this.kick(), FLUSH_MS);
  }

  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.sending) {
      this.sending = this.sendAll()
        .catch(this.onFatal)
        .finally(() => {
          this.sending = null;
          if (this.pendingBytes > 0) this.kick();
        });
    }
  }

  private async sendAll(): Promise<void> {
    while (this.pendingBytes > 0) {
      const body = this.take(MAX_UPLOAD);
      const at = this.acked;
      const r = await this.client.retrying(() => this.client.log(this.jobId, at, body));
      this.ack(r.offset);
    }
  }

  /** Concatenates up to `max` pending bytes without consuming them. */
  private take(max: number): Uint8Array {
    const n = Math.min(max, this.pendingBytes);
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

  /** Drops pending bytes below the server's offset. */
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
        this.pendingBytes -= head.length;
        this.acked += head.length;
      } else {
        this.pending[0] = head.subarray(drop);
        this.pendingBytes -= drop;
        this.acked += drop;
        drop = 0;
      }
    }
  }

  /** Resolves when every byte written so far is acknowledged. */
  async drain(): Promise<void> {
    while (this.pendingBytes > 0 || this.sending) {
      this.kick();
      await this.sending;
    }
  }
}
