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
// The style is kept as the SGRs since the last full reset, less those a later one makes moot, and
// at most PREFIX_MAX bytes of them: past that no point is offered until the next reset.
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
/** Kinds of short SGR a tracker keeps one copy of (ResumeTracker.sgrOf). */
const SGR_KEPT = 64;

const ESC = 0x1b;
const NL = 0x0a;

/** Style state at a point: the last OSC 8 (link) and the SGRs since the last full reset. */
interface Pen {
  osc: Uint8Array | null;
  sgr: Uint8Array[];
  sgrCount: number;
  /** The SGRs since the reset passed PREFIX_MAX and were let go: no point can restore this style. */
  lost: boolean;
}

// What a one-parameter SGR sets (wasm/assembly/csi.ts sgr): each a field it gives a fixed value,
// whatever the style before. An SGR that is neither in this table nor a whole colour (fieldsSet:
// 0, other parameter lists, a code the parser ignores) neither folds nor is folded.
const FG = 1;
const BG = 2;
const BOLD = 4;
const DIM = 8;
const ITALIC = 16;
const UNDERLINE = 32;
const INVERSE = 64;
const STRIKE = 128;
const FIELDS_SET = new Map<number, number>([
  [1, BOLD],
  [2, DIM],
  [3, ITALIC],
  [4, UNDERLINE],
  [7, INVERSE],
  [9, STRIKE],
  [22, BOLD | DIM],
  [23, ITALIC],
  [24, UNDERLINE],
  [27, INVERSE],
  [29, STRIKE],
  [39, FG],
  [49, BG],
  ...[30, 31, 32, 33, 34, 35, 36, 37, 90, 91, 92, 93, 94, 95, 96, 97].map((v): [number, number] => [v, FG]),
  ...[40, 41, 42, 43, 44, 45, 46, 47, 100, 101, 102, 103, 104, 105, 106, 107].map((v): [number, number] => [
    v,
    BG,
  ]),
]);

/**
 * The fields the SGR `seq` (ESC [ params m) sets whatever the style before: one parameter of the
 * table, or a whole 256-colour or RGB colour (38 or 48, then 5;n or 2;r;g;b, each up to 255, `;` or
 * `:` between, as csi.ts reads them); else 0.
 */
function fieldsSet(seq: Uint8Array): number {
  const params: number[] = [];
  let v = 0;
  let digits = 0;
  for (let k = 2; k < seq.length; k++) {
    const b = seq[k];
    if (b >= 0x30 && b <= 0x39) {
      if (++digits > 3) return 0;
      v = v * 10 + (b - 0x30);
    } else if (b === 0x3b || b === 0x3a || k === seq.length - 1) {
      if (digits === 0 || params.length === 5) return 0;
      params.push(v);
      v = 0;
      digits = 0;
    } else return 0;
  }
  if (params.length === 1) return FIELDS_SET.get(params[0]) ?? 0;
  const [kind, mode] = params;
  if ((kind !== 38 && kind !== 48) || params.some((p) => p > 255)) return 0;
  const whole = (mode === 5 && params.length === 3) || (mode === 2 && params.length === 5);
  return whole ? (kind === 38 ? FG : BG) : 0;
}

/** An SGR with what the pen needs to know of it. */
interface SgrKind {
  seq: Uint8Array;
  /** fieldsSet(seq). */
  fields: number;
  /** Its first parameter is 0 (or it has none): everything before it is undone. */
  resets: boolean;
}

function sgrKind(seq: Uint8Array): SgrKind {
  const end = seq.length - 1;
  let i = 2;
  while (i < end && seq[i] === 0x30) i++;
  return { seq, fields: fieldsSet(seq), resets: i === end || seq[i] === 0x3b || seq[i] === 0x3a };
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
  /**
   * Replaced (never cleared or shortened in place) on a reset or when SGRs are left out, so a Pen
   * snapshot's slice stays valid. At most PREFIX_MAX bytes: past it the list is let go (`sgrLost`)
   * until the next reset, as no point could carry it; memory stays bounded whatever the log.
   */
  private sgr: Uint8Array[] = [];
  /** For each entry of `sgr`, the fields it sets whatever the style before (fieldsSet), or 0. */
  private sgrFields: number[] = [];
  private sgrBytes = 0;
  /** Short SGRs by their bytes (sgrOf). */
  private readonly sgrKinds = new Map<number, SgrKind>();
  /** Whether a pen snapshot holds `sgr` (entries may then be appended, not removed). */
  private sgrShared = false;
  private sgrLost = false;
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
    if (!this.exact || !c || c.pen.lost || c.offset !== this.lastNewline || c.offset <= after) return null;
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
      // To the next ESC, noting the last newline before it: the first bytes in a loop (on coloured
      // logs two native searches per stretch of a few dozen bytes cost more than the stretch), a
      // longer stretch with the native searches.
      let esc = i;
      let nl = -1;
      const near = Math.min(bytes.length, i + 64);
      for (; esc < near; esc++) {
        const b = bytes[esc];
        if (b === ESC) break;
        if (b === NL) nl = esc;
      }
      if (esc === near && near < bytes.length) {
        const far = bytes.indexOf(ESC, near);
        esc = far < 0 ? bytes.length : far;
        const last = bytes.lastIndexOf(NL, esc - 1);
        if (last >= near) nl = last;
      }
      if (nl >= 0) this.control(NL, at + nl + 1);
      if (esc === bytes.length) return;
      const past = this.plainCsi(bytes, esc, at);
      if (past > 0) {
        i = past;
        continue;
      }
      this.step(ESC, at + esc + 1);
      i = esc + 1;
    }
  }

  /**
   * A whole CSI at `esc` with digit, `;` and `:` parameters only (what nearly every colour is), read
   * at once with what stepping through it byte by byte would do; returns the index past it, or 0 to
   * step (anything else, or a sequence the upload cuts).
   */
  private plainCsi(bytes: Uint8Array, esc: number, at: number): number {
    if (bytes[esc + 1] !== 0x5b) return 0;
    let j = esc + 2;
    for (; j < bytes.length; j++) {
      const b = bytes[j];
      if (!((b >= 0x30 && b <= 0x39) || b === 0x3b || b === 0x3a)) break;
    }
    const final = bytes[j];
    if (j >= bytes.length || final < 0x40 || final >= 0x7f) return 0;
    if (final === 0x6d) this.recordSgr(this.sgrOf(bytes, esc, j + 1));
    this.spans.push(at + esc, at + j + 1);
    return j + 1;
  }

  /**
   * The SGR bytes[from, to) as a kept array, the same one each time it recurs while it is among the
   * last SGR_KEPT kinds (a log uses a handful): one allocation per kind, not per sequence.
   */
  private sgrOf(bytes: Uint8Array, from: number, to: number): SgrKind {
    if (to - from > 9) return sgrKind(bytes.slice(from, to));
    let key = to - from;
    for (let k = from + 2; k < to - 1; k++) key = key * 256 + bytes[k];
    let kind = this.sgrKinds.get(key);
    if (!kind) {
      if (this.sgrKinds.size >= SGR_KEPT) this.sgrKinds.clear();
      kind = sgrKind(bytes.slice(from, to));
      this.sgrKinds.set(key, kind);
    }
    return kind;
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
      if (this.state === GROUND) {
        this.sgrShared = true;
        this.candidate = {
          offset: after,
          pen: { osc: this.osc, sgr: this.sgr, sgrCount: this.sgr.length, lost: this.sgrLost },
        };
      } else this.candidate = null;
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
      // Past PREFIX_MAX bytes no point could carry the SGR: the rest is not kept (sgrEnd).
      if (this.params.length <= PREFIX_MAX) this.params.push(b);
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

  /** Records the SGR read byte by byte: ESC [ params m. */
  private sgrEnd(): void {
    if (this.params.length > PREFIX_MAX) {
      this.losePen();
      return;
    }
    const seq = new Uint8Array(this.params.length + 3);
    seq[0] = ESC;
    seq[1] = 0x5b;
    seq.set(this.params, 2);
    seq[seq.length - 1] = 0x6d;
    this.recordSgr(sgrKind(seq));
  }

  /** Records an SGR (ESC [ params m); one whose first parameter is 0 resets what came before. */
  private recordSgr({ seq, fields, resets }: SgrKind): void {
    if (resets) {
      this.sgr = [seq];
      this.sgrFields = [fields];
      this.sgrBytes = seq.length;
      this.sgrShared = false;
      this.sgrLost = false;
      return;
    }
    if (this.sgrLost) return;
    // An earlier SGR that sets only fields this one sets again (fieldsSet) changes nothing any more:
    // left out, so a log that colours without resetting keeps a short pen. In place, unless a
    // pen snapshot holds the arrays (then in copies).
    let folds = false;
    if (fields) for (const f of this.sgrFields) if (f !== 0 && (f & ~fields) === 0) folds = true;
    if (folds) {
      if (this.sgrShared) {
        this.sgr = this.sgr.slice();
        this.sgrFields = this.sgrFields.slice();
        this.sgrShared = false;
      }
      let kept = 0;
      for (let k = 0; k < this.sgr.length; k++) {
        const f = this.sgrFields[k];
        if (f !== 0 && (f & ~fields) === 0) {
          this.sgrBytes -= this.sgr[k].length;
          continue;
        }
        this.sgr[kept] = this.sgr[k];
        this.sgrFields[kept++] = f;
      }
      this.sgr.length = kept;
      this.sgrFields.length = kept;
    }
    this.sgr.push(seq);
    this.sgrFields.push(fields);
    this.sgrBytes += seq.length;
    if (this.sgrBytes > PREFIX_MAX) this.losePen();
  }

  /** The SGRs since the last reset no longer fit a prefix: let go until the next reset. */
  private losePen(): void {
    this.sgr = [];
    this.sgrFields = [];
    this.sgrBytes = 0;
    this.sgrShared = false;
    this.sgrLost = true;
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
