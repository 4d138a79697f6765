// Streaming secret masker on raw bytes. Every occurrence of every pattern is found; overlapping
// occurrences merge into one `********`. Bytes are released as soon as no pattern could still
// cover them, so at most `longest − 1` raw bytes are held back. Mirrored in wasm/assembly/masker.ts.
import { Automaton } from "./automaton.ts";

export interface ByteSink {
  /** Unmasked bytes [start, end) of buf. */
  bytes(buf: Uint8Array, start: number, end: number): void;
  /** One masked run. */
  mask(): void;
}

function gram(buf: Uint8Array, i: number): number {
  return (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24)) >>> 0;
}

const SKIP = 0;
const SCAN = 1;

export class Masker {
  private ac: Automaton = new Automaton([]);
  /** The live automaton (the rendered-text masking uses it too). */
  get automaton(): Automaton {
    return this.ac;
  }
  /** Bytes not yet released: the tail of the previous push, then the current one. */
  private buf = new Uint8Array(256);
  private len = 0;
  /** Next position to examine (SKIP: next 4-gram start; SCAN: next byte to step). */
  private pos = 0;
  private mode = SKIP;
  private state = 0;
  /** Where the current SCAN began; positions before it were ruled out. */
  private entry = 0;
  /** Pending masked intervals [starts[i], ends[i]], sorted and disjoint. */
  private starts: number[] = [];
  private ends: number[] = [];

  /** Swaps the automaton; held-back bytes are scanned again with the new one. */
  setPatterns(patterns: Uint8Array[]): void {
    if (this.mode === SCAN) this.pos -= this.ac.depth[this.state];
    this.mode = SKIP;
    this.state = 0;
    this.ac = new Automaton(patterns);
  }

  push(input: Uint8Array, sink: ByteSink): void {
    if (this.ac.empty && this.len === 0) {
      if (input.length > 0) sink.bytes(input, 0, input.length);
      return;
    }
    this.append(input);
    this.scan();
    this.release(this.mode === SKIP ? this.pos : this.pos - this.ac.depth[this.state], sink);
  }

  /** Releases everything: nothing more can arrive to complete a match. */
  flush(sink: ByteSink): void {
    this.release(this.len, sink);
    this.mode = SKIP;
    this.state = 0;
    this.pos = 0;
    this.len = 0;
  }

  private append(input: Uint8Array): void {
    const need = this.len + input.length;
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.max(need, this.buf.length * 2));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(input, this.len);
    this.len = need;
  }

  private scan(): void {
    const ac = this.ac;
    const buf = this.buf;
    const n = this.len;
    let pos = this.pos;
    for (;;) {
      if (this.mode === SKIP) {
        // A miss at i rules out every start in (i - stride, i], so only every stride-th
        // 4-gram is looked up; a hit sends the automaton back over that window.
        const k = ac.stride;
        let i = pos;
        while (i + 4 <= n && !ac.mayStart(gram(buf, i))) i += k;
        if (i + 4 <= n) pos = Math.max(pos, i - k + 1);
        else {
          // Near the end: position by position, then hold back only what could begin a pattern.
          pos = Math.max(pos, i - k + 1);
          while (pos + 4 <= n && !ac.mayStart(gram(buf, pos))) pos++;
          if (pos + 4 > n) {
            while (pos < n && !ac.isPrefix(buf, pos, n)) pos++;
            break;
          }
        }
        this.mode = SCAN;
        this.state = 0;
        this.entry = pos;
      }
      let s = this.state;
      while (pos < n) {
        s = ac.step(s, buf[pos]);
        const hit = ac.out[s];
        if (hit > 0) this.addInterval(pos - hit + 1, pos);
        const d = ac.depth[s];
        pos++;
        // Back to skipping once the live prefix is shorter than any pattern and has moved on.
        if (d <= 3 && pos - d > this.entry) {
          pos -= d;
          this.mode = SKIP;
          break;
        }
      }
      this.state = s;
      if (this.mode === SCAN) break;
    }
    this.pos = pos;
  }

  private addInterval(start: number, end: number): void {
    // Matches arrive by end position, so this is nearly always a merge at the tail; a rescan
    // after setPatterns can land earlier, hence the general insert.
    let s = start;
    let e = end;
    let k = this.ends.length;
    while (k > 0 && this.starts[k - 1] > e) k--;
    let j = k;
    while (j > 0 && this.ends[j - 1] >= s) {
      j--;
      if (this.starts[j] < s) s = this.starts[j];
      if (this.ends[j] > e) e = this.ends[j];
    }
    this.starts.splice(j, k - j, s);
    this.ends.splice(j, k - j, e);
  }

  /** Emits bytes before `boundary` (no future match can reach them) and shifts the rest down. */
  private release(boundary: number, sink: ByteSink): void {
    let from = 0;
    let k = 0;
    while (k < this.starts.length && this.ends[k] < boundary) {
      if (this.starts[k] > from) sink.bytes(this.buf, from, this.starts[k]);
      sink.mask();
      from = this.ends[k] + 1;
      k++;
    }
    this.starts.splice(0, k);
    this.ends.splice(0, k);
    let stop = boundary;
    if (this.starts.length > 0 && this.starts[0] < stop) stop = this.starts[0];
    if (stop > from) {
      sink.bytes(this.buf, from, stop);
      from = stop;
    }
    if (from === 0) return;
    this.buf.copyWithin(0, from, this.len);
    this.len -= from;
    this.pos -= from;
    this.entry -= from;
    for (let i = 0; i < this.starts.length; i++) {
      this.starts[i] -= from;
      this.ends[i] -= from;
    }
  }
}
