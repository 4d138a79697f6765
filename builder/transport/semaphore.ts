// Bounds concurrent SSH channels: sshd refuses sessions past MaxSessions (10 by default).

export class Semaphore {
  private readonly waiting: (() => void)[] = [];
  private free: number;

  constructor(size: number) {
    if (!(size >= 1)) throw new Error(`semaphore size must be at least 1, got ${size}`);
    this.free = size;
  }

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((wake) => this.waiting.push(wake));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
