// Byte-level escape-sequence state machine in the style of the DEC/vte parser. Keeps SGR,
// OSC 8 (http/https), CR, LF, BS, TAB and ESC[K; drops everything else, malformed or not.
// Decodes UTF-8 (invalid → U+FFFD, WHATWG rules). Mirrored in wasm/assembly/parser.ts; its states are in parser-states.ts.
import { CSI_MAX_PARAMS, CSI_PARAM_MAX, MASK, OSC_LIMIT_BYTES } from "../limits.ts";
import type { Automaton } from "./automaton.ts";
import type { Line } from "./line.ts";
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
} from "./parser-states.ts";
import { maskBytes } from "./rendered.ts";
import { BOLD, DIM, INVERSE, ITALIC, PALETTE, RGB, STRIKE, type StyleTable, UNDERLINE } from "./style.ts";

const MASK_BYTES = new TextEncoder().encode(MASK);

export class Parser {
  private state = GROUND;
  private need = 0;
  private cp = 0;
  private lower = 0x80;
  private upper = 0xbf;
  private params = new Int32Array(CSI_MAX_PARAMS);
  private nparams = 0;
  private param = 0;
  private csiPrivate = false;
  private csiStarted = false;
  private osc = new Uint8Array(OSC_LIMIT_BYTES);
  private oscLen = 0;
  private oscOverflow = false;
  // The pen, mirrored into the style table whenever it changes.
  private fg = 0;
  private bg = 0;
  private attrs = 0;
  private href = "";

  constructor(
    private readonly line: Line,
    private readonly styles: StyleTable,
    /** The secrets' automaton, for masking link targets. */
    private readonly automaton: () => Automaton,
  ) {}

  feed(buf: Uint8Array, start: number, end: number): void {
    const line = this.line;
    let i = start;
    while (i < end) {
      if (this.state === GROUND && this.need === 0) {
        // Printable ASCII goes to the line a run at a time.
        let j = i;
        while (j < end && buf[j] >= 0x20 && buf[j] < 0x7f) j++;
        if (j > i) {
          line.writeAscii(buf, i, j);
          i = j;
          continue;
        }
      }
      this.byte(buf[i++]);
    }
  }

  /** End of a flush: a partial UTF-8 sequence becomes U+FFFD; a partial escape is dropped. */
  finish(): void {
    if (this.need > 0) {
      this.need = 0;
      this.line.write(0xfffd);
    }
    this.state = GROUND;
  }

  private byte(b: number): void {
    switch (this.state) {
      case GROUND: {
        this.ground(b);
        return;
      }
      case ESCAPE: {
        this.escape(b);
        return;
      }
      case ESC_INTERMEDIATE:
        if (b < 0x20) {
          this.control(b);
          return;
        }
        if (b >= 0x30 && b < 0x7f) this.state = GROUND;
        return;
      case CSI_PARAM: {
        this.csi(b);
        return;
      }
      case CSI_IGNORE:
        if (b < 0x20) {
          this.control(b);
          return;
        }
        if (b >= 0x40 && b < 0x7f) this.state = GROUND;
        return;
      case OSC:
        if (b === 0x07) {
          this.oscEnd();
          this.state = GROUND;
        } else if (b === 0x1b) this.state = OSC_ESC;
        else if (b === 0x18 || b === 0x1a) this.state = GROUND;
        else if (b >= 0x20) {
          if (this.oscLen < OSC_LIMIT_BYTES) this.osc[this.oscLen++] = b;
          else this.oscOverflow = true;
        }
        return;
      case OSC_ESC:
        this.oscEnd();
        this.state = GROUND;
        if (b !== 0x5c) this.escape(b);
        return;
      case STRING:
        if (b === 0x07 || b === 0x18 || b === 0x1a) this.state = GROUND;
        else if (b === 0x1b) this.state = STRING_ESC;
        return;
      default:
        this.state = GROUND;
        if (b !== 0x5c) this.escape(b);
    }
  }

  private ground(b: number): void {
    if (this.need > 0) {
      if (b >= this.lower && b <= this.upper) {
        this.cp = (this.cp << 6) | (b & 0x3f);
        this.lower = 0x80;
        this.upper = 0xbf;
        if (--this.need === 0) this.print(this.cp);
        return;
      }
      this.need = 0;
      this.lower = 0x80;
      this.upper = 0xbf;
      this.line.write(0xfffd);
    }
    if (b < 0x80) {
      if (b >= 0x20 && b < 0x7f) this.line.write(b);
      else if (b === 0x1b) this.state = ESCAPE;
      else this.control(b);
    } else if (b >= 0xc2 && b <= 0xdf) {
      this.need = 1;
      this.cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      if (b === 0xe0) this.lower = 0xa0;
      else if (b === 0xed) this.upper = 0x9f;
      this.need = 2;
      this.cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      if (b === 0xf0) this.lower = 0x90;
      else if (b === 0xf4) this.upper = 0x8f;
      this.need = 3;
      this.cp = b & 0x07;
    } else this.line.write(0xfffd);
  }

  private print(cp: number): void {
    // C1 controls decoded from UTF-8 are controls too: dropped.
    if (cp >= 0x80 && cp < 0xa0) return;
    this.line.write(cp);
  }

  /** C0 controls act the same inside escape sequences (as in vte); CAN/SUB abort them. */
  private control(b: number): void {
    if (b === 0x0a) this.line.newline();
    else if (b === 0x0d) this.line.carriageReturn();
    else if (b === 0x08) this.line.backspace();
    else if (b === 0x09) this.line.tab();
    else if (b === 0x1b) this.state = ESCAPE;
    else if (b === 0x18 || b === 0x1a) this.state = GROUND;
  }

  private escape(b: number): void {
    if (b < 0x20) {
      this.state = ESCAPE;
      this.control(b);
      return;
    }
    if (b === 0x5b) {
      this.state = CSI_PARAM;
      this.nparams = 0;
      this.param = 0;
      this.csiPrivate = false;
      this.csiStarted = false;
    } else if (b === 0x5d) {
      this.state = OSC;
      this.oscLen = 0;
      this.oscOverflow = false;
    } else if (b === 0x50 || b === 0x58 || b === 0x5e || b === 0x5f) this.state = STRING;
    else if (b >= 0x20 && b < 0x30) this.state = ESC_INTERMEDIATE;
    else if (b >= 0x30 && b < 0x7f) this.state = GROUND;
    else this.state = ESCAPE;
  }

  private csi(b: number): void {
    if (b < 0x20) {
      this.control(b);
      return;
    }
    if (b >= 0x30 && b <= 0x39) {
      const v = this.param * 10 + (b - 0x30);
      this.param = Math.min(v, CSI_PARAM_MAX);
      this.csiStarted = true;
    } else if (b === 0x3b || b === 0x3a) {
      if (this.nparams < CSI_MAX_PARAMS) this.params[this.nparams++] = this.param;
      this.param = 0;
      this.csiStarted = true;
    } else if (b >= 0x3c && b <= 0x3f) {
      if (this.csiStarted) this.state = CSI_IGNORE;
      else {
        this.csiPrivate = true;
        this.csiStarted = true;
      }
    } else if (b >= 0x40 && b < 0x7f) {
      this.state = GROUND;
      if (this.nparams < CSI_MAX_PARAMS) this.params[this.nparams++] = this.param;
      if (this.csiPrivate) return;
      if (b === 0x6d) this.sgr();
      else if (b === 0x4b) this.line.erase(this.params[0]);
    } else if (b >= 0x20 && b < 0x30) this.state = CSI_IGNORE;
  }

  private sgr(): void {
    const p = this.params;
    const n = this.nparams;
    let fg = this.fg;
    let bg = this.bg;
    let attrs = this.attrs;
    let i = 0;
    while (i < n) {
      const v = p[i];
      if (v === 0) {
        fg = 0;
        bg = 0;
        attrs = 0;
      } else if (v === 1) attrs |= BOLD;
      else if (v === 2) attrs |= DIM;
      else if (v === 3) attrs |= ITALIC;
      else if (v === 4) attrs |= UNDERLINE;
      else if (v === 7) attrs |= INVERSE;
      else if (v === 9) attrs |= STRIKE;
      else if (v === 22) attrs &= ~(BOLD | DIM);
      else if (v === 23) attrs &= ~ITALIC;
      else if (v === 24) attrs &= ~UNDERLINE;
      else if (v === 27) attrs &= ~INVERSE;
      else if (v === 29) attrs &= ~STRIKE;
      else if (v >= 30 && v <= 37) fg = PALETTE | (v - 30);
      else if (v === 39) fg = 0;
      else if (v >= 40 && v <= 47) bg = PALETTE | (v - 40);
      else if (v === 49) bg = 0;
      else if (v >= 90 && v <= 97) fg = PALETTE | (v - 82);
      else if (v >= 100 && v <= 107) bg = PALETTE | (v - 92);
      else if ((v === 38 || v === 48) && i + 1 < n && (p[i + 1] === 5 || p[i + 1] === 2)) {
        let c = -1;
        if (p[i + 1] === 5) {
          if (i + 2 < n && p[i + 2] <= 255) c = PALETTE | p[i + 2];
          i += 3;
        } else {
          if (i + 4 < n && p[i + 2] <= 255 && p[i + 3] <= 255 && p[i + 4] <= 255) {
            c = RGB | (p[i + 2] << 16) | (p[i + 3] << 8) | p[i + 4];
          }
          i += 5;
        }
        if (c >= 0) {
          if (v === 38) fg = c;
          else bg = c;
        }
        continue;
      }
      i++;
    }
    this.fg = fg;
    this.bg = bg;
    this.attrs = attrs;
    this.styles.set(fg, bg, attrs, this.href);
  }

  private oscEnd(): void {
    const o = this.osc;
    const n = this.oscLen;
    if (this.oscOverflow || n < 2 || o[0] !== 0x38 || o[1] !== 0x3b) return;
    let i = 2;
    while (i < n && o[i] !== 0x3b) i++;
    let href = "";
    if (i < n) {
      // A link's target is shown too (the status bar, a copied link): masked like the text first.
      const target = maskBytes(this.automaton(), o.subarray(i + 1, n), n - i - 1, MASK_BYTES);
      if (isWebUrl(target, 0, target.length))
        href = String.fromCharCode.apply(null, target as unknown as number[]);
    }
    this.href = href;
    this.styles.set(this.fg, this.bg, this.attrs, href);
  }
}

/** Only http(s) targets become links: javascript:, data: and friends never reach a browser. */
function isWebUrl(o: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (o[i] < 0x21 || o[i] > 0x7e) return false;
  const lower = (i: number) => o[i] | 0x20;
  let j = start;
  if (end - j < 8) return false;
  if (lower(j) !== 0x68 || lower(j + 1) !== 0x74 || lower(j + 2) !== 0x74 || lower(j + 3) !== 0x70)
    return false;
  j += 4;
  if (lower(j) === 0x73) j++;
  return o[j] === 0x3a && o[j + 1] === 0x2f && o[j + 2] === 0x2f && end - j > 3;
}
