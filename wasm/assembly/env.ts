// The module's only host-facing hook: aborts trap instead of importing env.abort, so the
// module needs no imports at all and every instance is self-contained.
export function abortTrap(message: usize, fileName: usize, line: u32, column: u32): void {
  unreachable();
}
