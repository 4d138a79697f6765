// Where a job's log pipeline can be rebuilt from little: a raw offset right after a line ended
// where the pipeline holds nothing back (no masked bytes pending, no escape sequence open, an
// empty line), plus the escape sequences that restore the style and link in force there. A
// restarted server then replays only the raw bytes since that point, not the whole step.
//
// Found by mirroring the state transitions of the pipeline's escape-sequence parser
// (wasm/assembly/parser.ts) on the raw bytes, without its output. The parser sees the masked
// bytes, so the mirror is exact only while no secret occurrence starts inside an escape sequence
// and no secret form contains ESC or a newline; otherwise the job's resume point stops moving
// until its segment ends (the replay is then the bytes since the last point, as long as needed).
import { derivedForms } from "../../wasm/derive.ts";
import { OSC_LIMIT_BYTES } from "../../wasm/limits.ts";
import {
  CSI_IGNORE,
  CSI_PARAM,
  ESC_INTERMEDIATE,
  ESCAPE,
  GROUND,
  OSC,
  OSC_ESC,
  STRING,
  STRING_ESC,
} from "../../wasm/reference/parser-states.ts";

/** A resume point never trails the acknowledged end by more (so its bytes are kept in memory). */
export const RESUME_TAIL_MAX = 4096;
/** Nor needs a longer restoring prefix. */
const PREFIX_MAX = 4096;

const ESC = 0x1b;
const NL = 0x0a;

/** Style state at a point: the last OSC 8 (link) and the SGRs since the last full reset. */
interface Pen {
  osc: Uint8Array | null;
  sgr: Uint8Array[];
  sgrCount: number;
}

export interface ResumePoint {
  /** Raw offset of the first byte to replay. */
  offset: number;
  /** Escape sequences that restore the style and link in force at `offset` (no text, no secrets masked). */
  prefix: Uint8Array;
  /** Raw bytes from `offset` to the end seen so far. */
  tail: Uint8Array;
}

export class ResumeTracker {
  private state = GROUND;
  private csiPrivate = false;
  private csiStarted = false;
  /** The CSI's parameter bytes (digits, ; and :), C0 controls run inside it left out. */
  private params: number[] = [];
  private oscBytes: number[] = [];
  private oscOverflow = false;
  private osc: Uint8Array | null = null;
  /** Replaced (never cleared) on a reset, so a Pen snapshot's slice stays valid. */
  private sgr: Uint8Array[] = [];
  /** False once the mirror may disagree with the pipeline: no point is offered until the segment ends. */
  private exact: boolean;
  private readonly patterns: Uint8Array[];
  /** The secret forms by their first byte. */
  private readonly formsByFirstByte: (Uint8Array[] | undefined)[] = [];
  private readonly longest: number;
  /** [start, end) raw offsets of recent escape sequences (a secret starting inside one stops the mirror). */
  private spans: number[] = [];
  private spanStart = -1;
  /** The last RESUME_TAIL_MAX raw bytes and where they start. */
  private recent = new Uint8Array(0);
  private recentAt = 0;
  private end = 0;
  private lastNewline = -1;
  private candidate: { offset: number; pen: Pen } | null = null;

  /** `start`: the raw offset where the pipeline began (clean, default style): a segment start. */
  constructor(secrets: string[], start: number) {
    this.patterns = secrets.flatMap((s) => derivedForms(s)).filter((p) => p.length > 0);
    this.longest = this.patterns.reduce((n, p) => Math.max(n, p.length), 0);
    for (const p of this.patterns) {
      const forms = this.formsByFirstByte[p[0]];
      if (forms) forms.push(p);
      else this.formsByFirstByte[p[0]] = [p];
    }
    this.exact =
      this.longest < RESUME_TAIL_MAX && !this.patterns.some((p) => p.includes(ESC) || p.includes(NL));
    this.end = this.recentAt = start;
  }

  /** Restores the state a prefix (from a stored resume point) sets up; `at` is the point's offset. */
  restore(prefix: Uint8Array, at: number): void {
    this.end = this.recentAt = at;
    for (const b of prefix) this.step(b, at);
    this.spans = [];
  }

  /** Follows raw bytes that start at raw offset `at` (consecutive with what came before). */
  scan(bytes: Uint8Array, at: number): void {
    if (this.exact) this.follow(bytes, at);
    this.end = at + bytes.length;
    if (this.exact) this.checkSecrets(bytes, at);
    this.keepRecent(bytes);
  }

  /** The raw bytes from `offset` to the end, if still kept. */
  bytesSince(offset: number): Uint8Array | null {
    return offset >= this.recentAt && offset <= this.end ? this.recent.slice(offset - this.recentAt) : null;
  }

  /**
   * A resume point at or after `after` from which a replay gives back the pipeline's state, if
   * one is known: the last newline the parser acted on, in ground state, with nothing after it
   * that could have ended another line (so the line count there is the count so far).
   */
  point(after: number): ResumePoint | null {
    const c = this.candidate;
    if (!this.exact || !c || c.offset !== this.lastNewline || c.offset <= after) return null;
    if (this.end - c.offset > RESUME_TAIL_MAX || c.offset < this.recentAt) return null;
    const parts = [...(c.pen.osc ? [c.pen.osc] : []), ...c.pen.sgr.slice(0, c.pen.sgrCount)];
    const size = parts.reduce((n, p) => n + p.length, 0);
    if (size > PREFIX_MAX) return null;
    const prefix = new Uint8Array(size);
    let k = 0;
    for (const p of parts) {
      prefix.set(p, k);
      k += p.length;
    }
    return { offset: c.offset, prefix, tail: this.recent.slice(c.offset - this.recentAt) };
  }

  private keepRecent(bytes: Uint8Array): void {
    if (bytes.length >= RESUME_TAIL_MAX) {
      this.recent = bytes.slice(bytes.length - RESUME_TAIL_MAX);
    } else {
      const keep = Math.min(this.recent.length, RESUME_TAIL_MAX - bytes.length);
      const next = new Uint8Array(keep + bytes.length);
      next.set(this.recent.subarray(this.recent.length - keep));
      next.set(bytes, keep);
      this.recent = next;
    }
    this.recentAt = this.end - this.recent.length;
    // Spans that ended before the bytes a later secret search can reach are no longer needed.
    const horizon = this.end - this.longest;
    let drop = 0;
    while (drop < this.spans.length && this.spans[drop + 1] < horizon) drop += 2;
    if (drop) this.spans = this.spans.slice(drop);
  }

  /**
   * Every occurrence of a secret form in ground text is harmless; one that starts inside a sequence
   * (after its ESC) is not. So only the offsets inside sequences are looked at, each against the
   * forms that begin with its byte: a few bytes a sequence, where searching the whole upload once
   * per form was ~4 % of the server's profile in bench:fanout (docs/perf-history.md). An occurrence
   * that ends in a later upload is found then: the longest form's length before it is still kept.
   */
  private checkSecrets(bytes: Uint8Array, at: number): void {
    if (!this.patterns.length) return;
    const from = at - Math.min(this.longest - 1, this.recent.length);
    const end = at + bytes.length;
    for (let k = 0; k < this.spans.length; k += 2) {
      if (this.spans[k + 1] <= from) continue;
      if (this.formStartsIn(Math.max(this.spans[k] + 1, from), Math.min(this.spans[k + 1], end), bytes, at)) {
        this.exact = false;
        return;
      }
    }
    if (this.spanStart >= 0 && this.formStartsIn(Math.max(this.spanStart + 1, from), end, bytes, at))
      this.exact = false;
  }

  /**
   * Whether a secret form starts at a raw offset in [lo, hi) and ends within what has been read:
   * `bytes` (from raw offset `at`) and, before it, the kept recent bytes.
   */
  private formStartsIn(lo: number, hi: number, bytes: Uint8Array, at: number): boolean {
    const end = at + bytes.length;
    const recent = this.recent;
    // Raw offset o is bytes[o - at], or before `at` recent[o - at + recent.length].
    const shift = recent.length - at;
    for (let o = lo; o < hi; o++) {
      const forms = this.formsByFirstByte[o >= at ? bytes[o - at] : recent[o + shift]];
      if (!forms) continue;
      for (const p of forms) {
        if (o + p.length > end) continue;
        let i = 1;
        for (; i < p.length; i++) {
          const q = o + i;
          if ((q >= at ? bytes[q - at] : recent[q + shift]) !== p[i]) break;
        }
        if (i === p.length) return true;
      }
    }
    return false;
  }

  /**
   * In ground state only ESC and newline matter (text and the other controls leave the state and
   * the style alone), so the runs between ESCs are searched natively, not stepped through.
   */
  private follow(bytes: Uint8Array, at: number): void {
    let i = 0;
    while (i < bytes.length) {
      if (this.state !== GROUND) {
        this.step(bytes[i], at + i + 1);
        i++;
        continue;
      }
      const esc = bytes.indexOf(ESC, i);
      const stop = esc < 0 ? bytes.length : esc;
      const nl = stop > i ? bytes.lastIndexOf(NL, stop - 1) : -1;
      if (nl >= i) this.control(NL, at + nl + 1);
      if (esc < 0) return;
      this.step(ESC, at + esc + 1);
      i = esc + 1;
    }
  }

  /** One byte; `after` is the raw offset just past it. Mirrors parser.ts `step`. */
  private step(b: number, after: number): void {
    const was = this.state;
    switch (this.state) {
      case GROUND:
        if (b === ESC) this.state = ESCAPE;
        else if (b < 0x20) this.control(b, after);
        break;
      case ESCAPE:
        this.escape(b, after);
        break;
      case ESC_INTERMEDIATE:
        if (b < 0x20) this.control(b, after);
        else if (b >= 0x30 && b < 0x7f) this.state = GROUND;
        break;
      case CSI_PARAM:
        this.csi(b, after);
        break;
      case CSI_IGNORE:
        if (b < 0x20) this.control(b, after);
        else if (b >= 0x40 && b < 0x7f) this.state = GROUND;
        break;
      case OSC:
        if (b === 0x07) {
          this.oscEnd();
          this.state = GROUND;
        } else if (b === ESC) this.state = OSC_ESC;
        else if (b === 0x18 || b === 0x1a) this.state = GROUND;
        else if (b >= 0x20) {
          if (this.oscBytes.length < OSC_LIMIT_BYTES) this.oscBytes.push(b);
          else this.oscOverflow = true;
        }
        break;
      case OSC_ESC:
        this.oscEnd();
        this.state = GROUND;
        if (b !== 0x5c) this.escape(b, after);
        break;
      case STRING:
        if (b === 0x07 || b === 0x18 || b === 0x1a) this.state = GROUND;
        else if (b === ESC) this.state = STRING_ESC;
        break;
      default:
        this.state = GROUND;
        if (b !== 0x5c) this.escape(b, after);
    }
    if (was === GROUND && this.state !== GROUND) this.spanStart = after - 1;
    else if (was !== GROUND && this.state === GROUND && this.spanStart >= 0) {
      this.spans.push(this.spanStart, after);
      this.spanStart = -1;
    }
  }

  private control(b: number, after: number): void {
    if (b === NL) {
      this.lastNewline = after;
      // Only a newline read in ground state leaves the parser in it (vte runs C0 inside sequences).
      this.candidate =
        this.state === GROUND
          ? { offset: after, pen: { osc: this.osc, sgr: this.sgr, sgrCount: this.sgr.length } }
          : null;
    } else if (b === ESC) this.state = ESCAPE;
    else if (b === 0x18 || b === 0x1a) this.state = GROUND;
  }

  private escape(b: number, after: number): void {
    if (b < 0x20) {
      this.state = ESCAPE;
      this.control(b, after);
      return;
    }
    if (b === 0x5b) {
      this.state = CSI_PARAM;
      this.params = [];
      this.csiPrivate = false;
      this.csiStarted = false;
    } else if (b === 0x5d) {
      this.state = OSC;
      this.oscBytes = [];
      this.oscOverflow = false;
    } else if (b === 0x50 || b === 0x58 || b === 0x5e || b === 0x5f) this.state = STRING;
    else if (b >= 0x20 && b < 0x30) this.state = ESC_INTERMEDIATE;
    else if (b >= 0x30 && b < 0x7f) this.state = GROUND;
    else this.state = ESCAPE;
  }

  private csi(b: number, after: number): void {
    if (b < 0x20) {
      this.control(b, after);
      return;
    }
    if ((b >= 0x30 && b <= 0x39) || b === 0x3b || b === 0x3a) {
      this.params.push(b);
      this.csiStarted = true;
    } else if (b >= 0x3c && b <= 0x3f) {
      if (this.csiStarted) this.state = CSI_IGNORE;
      else {
        this.csiPrivate = true;
        this.csiStarted = true;
      }
    } else if (b >= 0x40 && b < 0x7f) {
      this.state = GROUND;
      if (!this.csiPrivate && b === 0x6d) this.sgrEnd();
    } else if (b >= 0x20 && b < 0x30) this.state = CSI_IGNORE;
  }

  /** Records an SGR as ESC [ params m; one whose first parameter is 0 resets what came before. */
  private sgrEnd(): void {
    const seq = new Uint8Array(this.params.length + 3);
    seq[0] = ESC;
    seq[1] = 0x5b;
    seq.set(this.params, 2);
    seq[seq.length - 1] = 0x6d;
    let i = 0;
    while (i < this.params.length && this.params[i] === 0x30) i++;
    const resets = i === this.params.length || this.params[i] === 0x3b || this.params[i] === 0x3a;
    if (resets) this.sgr = [seq];
    else this.sgr.push(seq);
  }

  /** An OSC 8 sets the link whatever came before; other OSCs change nothing. */
  private oscEnd(): void {
    const p = this.oscBytes;
    if (this.oscOverflow || p.length < 2 || p[0] !== 0x38 || p[1] !== 0x3b) return;
    const seq = new Uint8Array(p.length + 3);
    seq[0] = ESC;
    seq[1] = 0x5d;
    seq.set(p, 2);
    seq[seq.length - 1] = 0x07;
    this.osc = seq;
  }
}
