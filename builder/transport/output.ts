// ExecResult keeps a bounded copy of each stream: callers that stream output (steps, tar) use the
// callbacks; the copy is for short commands like `lxc-ls` and error messages.

/** Bytes kept per stream in ExecResult.stdout/stderr; the rest is still delivered to callbacks. */
export const RESULT_CAP_BYTES = 1024 * 1024;

export class CappedOutput {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  add(bytes: Uint8Array): void {
    if (this.size >= RESULT_CAP_BYTES) return;
    const room = RESULT_CAP_BYTES - this.size;
    const kept = bytes.length > room ? bytes.subarray(0, room) : bytes;
    this.parts.push(kept.slice());
    this.size += kept.length;
  }

  text(): string {
    const all = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      all.set(p, at);
      at += p.length;
    }
    return new TextDecoder().decode(all);
  }
}
