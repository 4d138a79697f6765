// Byte helpers, shared by the pipeline's TypeScript side, the builder's transports and the
// server's deploy keys.

/** The parts as one array: the part itself when there is only one, else a copy of them in order. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
