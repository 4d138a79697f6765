// Aho–Corasick automaton over the secret patterns, plus a 4-gram Bloom prefilter that lets the
// masker skip text where no pattern can start. Mirrored in wasm/assembly/automaton.ts.

/** Multiplicative hash constant (golden ratio), shared with the AssemblyScript build. */
export const HASH_MUL = 0x9e3779b1;
/** Longest skip between 4-gram lookups (the filter is sized by patterns × stride, so it stays sparse). */
export const MAX_STRIDE = 32;

export class Automaton {
  /** Longest pattern length; the masker never holds back more than this minus one. */
  longest = 0;
  /** The masker looks up every stride-th 4-gram: patterns are at least stride + 3 long. */
  stride = 1;
  /** 4-gram filter over the 4-grams at offsets 0 .. stride-1 of each pattern. */
  bloom: Uint8Array = new Uint8Array(0);
  bloomShift = 32;
  /** Root transitions, direct-indexed (the root is where the automaton spends its time). */
  rootNext: Int32Array = new Int32Array(256);
  /** Goto table for the other states: open addressing, key = (state << 8 | byte) + 1. */
  keys: Int32Array = new Int32Array(0);
  vals: Int32Array = new Int32Array(0);
  hashShift = 32;
  fail: Int32Array = new Int32Array(1);
  depth: Int32Array = new Int32Array(1);
  /** Longest pattern ending at this state (via failure links), 0 if none. */
  out: Int32Array = new Int32Array(1);
  empty = true;

  constructor(patterns: Uint8Array[]) {
    if (patterns.length === 0) return;
    this.empty = false;
    let total = 1;
    for (const p of patterns) total += p.length;
    // Trie with first-child/next-sibling lists for the build, then a hash table for lookups.
    const label = new Uint8Array(total);
    const firstChild = new Int32Array(total).fill(-1);
    const nextSibling = new Int32Array(total).fill(-1);
    const depth = new Int32Array(total);
    const own = new Int32Array(total);
    let states = 1;
    let shortest = patterns[0].length;
    for (const p of patterns) shortest = Math.min(shortest, p.length);
    this.stride = Math.max(1, Math.min(MAX_STRIDE, shortest - 3));
    let bloomBits = 12;
    while (bloomBits < 24 && 1 << bloomBits < patterns.length * this.stride * 64) bloomBits++;
    this.bloom = new Uint8Array(1 << (bloomBits - 3));
    this.bloomShift = 32 - bloomBits;
    for (const p of patterns) {
      if (p.length > this.longest) this.longest = p.length;
      for (let o = 0; o < this.stride; o++) {
        const gram = (p[o] | (p[o + 1] << 8) | (p[o + 2] << 16) | (p[o + 3] << 24)) >>> 0;
        const h = Math.imul(gram, HASH_MUL) >>> this.bloomShift;
        this.bloom[h >>> 3] |= 1 << (h & 7);
      }
      let s = 0;
      for (let i = 0; i < p.length; i++) {
        let c = firstChild[s];
        while (c >= 0 && label[c] !== p[i]) c = nextSibling[c];
        if (c < 0) {
          c = states++;
          label[c] = p[i];
          depth[c] = depth[s] + 1;
          nextSibling[c] = firstChild[s];
          firstChild[s] = c;
        }
        s = c;
      }
      own[s] = p.length;
    }
    let hashBits = 4;
    while (1 << hashBits < states * 2) hashBits++;
    this.keys = new Int32Array(1 << hashBits);
    this.vals = new Int32Array(1 << hashBits);
    this.hashShift = 32 - hashBits;
    this.rootNext.fill(0);
    this.fail = new Int32Array(states);
    this.out = new Int32Array(states);
    this.depth = depth.slice(0, states);
    // Breadth-first so each failure link points at an already finished state.
    const queue = new Int32Array(states);
    let head = 0;
    let tail = 0;
    for (let c = firstChild[0]; c >= 0; c = nextSibling[c]) {
      this.rootNext[label[c]] = c;
      this.out[c] = own[c];
      queue[tail++] = c;
    }
    while (head < tail) {
      const s = queue[head++];
      for (let c = firstChild[s]; c >= 0; c = nextSibling[c]) {
        this.insert(s, label[c], c);
        const f = this.step(this.fail[s], label[c]);
        this.fail[c] = f;
        this.out[c] = Math.max(own[c], this.out[f]);
        queue[tail++] = c;
      }
    }
  }

  private insert(state: number, byte: number, child: number): void {
    const key = ((state << 8) | byte) + 1;
    const mask = this.keys.length - 1;
    let h = Math.imul(key, HASH_MUL) >>> this.hashShift;
    while (this.keys[h] !== 0) h = (h + 1) & mask;
    this.keys[h] = key;
    this.vals[h] = child;
  }

  private child(state: number, byte: number): number {
    const key = ((state << 8) | byte) + 1;
    const mask = this.keys.length - 1;
    let h = Math.imul(key, HASH_MUL) >>> this.hashShift;
    for (;;) {
      const k = this.keys[h];
      if (k === key) return this.vals[h];
      if (k === 0) return -1;
      h = (h + 1) & mask;
    }
  }

  /** The automaton's transition (goto with failure fallback). */
  step(state: number, byte: number): number {
    let s = state;
    while (s !== 0) {
      const c = this.child(s, byte);
      if (c >= 0) return c;
      s = this.fail[s];
    }
    return this.rootNext[byte];
  }

  /** Whether buf[start, end) is a prefix of some pattern (walks the trie, no failure links). */
  isPrefix(buf: Uint8Array, start: number, end: number): boolean {
    let s = this.rootNext[buf[start]];
    for (let i = start + 1; s !== 0 && i < end; i++) s = Math.max(this.child(s, buf[i]), 0);
    return s !== 0;
  }

  /** Whether some pattern may start with this little-endian 4-gram. */
  mayStart(gram: number): boolean {
    const h = Math.imul(gram, HASH_MUL) >>> this.bloomShift;
    return (this.bloom[h >>> 3] & (1 << (h & 7))) !== 0;
  }
}
