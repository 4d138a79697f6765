// Builders waiting in acquire (a long poll), woken when work may have appeared in this process.

export class Wakeups {
  private readonly waiters = new Set<() => void>();

  /** Wakes every waiting builder: new work may be there. */
  notify(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** Resolves on the next `notify`, after `ms`, or when `signal` aborts, whichever comes first. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener("abort", done);
    });
  }
}
