// A cap on the work of expanding one config, beside the cap on its YAML nodes: aliases and matrices
// can make a small file substitute the same large body many times, and anyone who can push picks it.
import type { Diagnostics } from "./diagnostics.ts";
import type { Pos } from "./tree.ts";

/** Nodes substituted per config; real configs use a few thousand (solidity's 66 KB: 5,930). */
export const MAX_WORK = 500_000;

export class Work {
  private left = MAX_WORK;
  private reported = false;

  constructor(private readonly diag: Diagnostics) {}

  /** Counts `n` units; false once the budget is spent (reported once, at `pos`). */
  spend(n: number, pos: Pos): boolean {
    this.left -= n;
    if (this.left >= 0) return true;
    if (!this.reported)
      this.diag.error(
        pos,
        `expanding this config takes more than ${MAX_WORK} steps of work (aliases, commands or matrices multiplying a large body); refusing it`,
      );
    this.reported = true;
    return false;
  }

  get exhausted(): boolean {
    return this.left < 0;
  }

  /** Units spent so far (the benchmark reports it). */
  get used(): number {
    return MAX_WORK - this.left;
  }
}
