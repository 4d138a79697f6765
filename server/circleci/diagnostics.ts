// Collects every problem in a config at once: errors make it invalid, warnings don't. The same
// problem found twice (a job validated, then expanded for a workflow) is reported once.
import type { ConfigError } from "./types.ts";

export class Diagnostics {
  private readonly seen = new Set<string>();
  readonly errors: ConfigError[] = [];
  readonly warnings: ConfigError[] = [];

  constructor(readonly file: string) {}

  error(pos: { line: number; col: number }, message: string): void {
    this.push(this.errors, pos, message);
  }

  warn(pos: { line: number; col: number }, message: string): void {
    this.push(this.warnings, pos, message);
  }

  get failed(): boolean {
    return this.errors.length > 0;
  }

  sorted(list: ConfigError[]): ConfigError[] {
    return [...list].sort((a, b) => a.line - b.line || a.col - b.col || a.message.localeCompare(b.message));
  }

  private push(list: ConfigError[], pos: { line: number; col: number }, message: string) {
    const id = `${list === this.errors ? "e" : "w"}:${pos.line}:${pos.col}:${message}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    list.push({ file: this.file, line: pos.line, col: pos.col, message });
  }
}

export const formatError = (e: ConfigError) => `${e.file}:${e.line}:${e.col}: ${e.message}`;
