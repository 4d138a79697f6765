// Byte-level escape-sequence state machine in the style of the DEC/vte parser, with UTF-8
// decoding (WHATWG rules). Mirror of wasm/reference/parser.ts; see it for the rules.
import { feedFast, feedLines, printableRun } from "./ground";
import { CSI_PARAM_MAX, OSC_LIMIT_BYTES } from "./limits";
import { asText, bytes, cursor, len, notDirect } from "./linestate";
import { backspace, carriageReturn, erase, newline, tab, write, writeAscii } from "./line";
import {
  hrefLength, href, initCsi, nparams, param, paramAt, penAttrs, penBg, penFg, pushParam, sgr, sgrCached,
} from "./csi";
import { maskInto } from "./rendered";
import { setStyle } from "./style";

const GROUND = 0;
const ESCAPE = 1;
const ESC_INTERMEDIATE = 2;
const CSI_PARAM = 3;
const CSI_IGNORE = 4;
const OSC = 5;
const OSC_ESC = 6;
const STRING = 7;
const STRING_ESC = 8;

let state = GROUND;
let need = 0;
let cp: u32 = 0;
let lower: u32 = 0x80;
let upper: u32 = 0xbf;
let csiPrivate = false;
let csiStarted = false;
let osc: usize = 0;
let oscLen = 0;
let oscOverflow = false;
let mask: usize = 0;

export function initParser(): void {
  initCsi();
  // 16 spare bytes: the link is scanned in whole v128 blocks (rendered.ts).
  osc = heap.alloc(<usize>OSC_LIMIT_BYTES + 16);
  mask = heap.alloc(32);
  memory.fill(mask, 0x2a, 8);
}

export function feed(p: usize, end: usize): void {
  while (p < end) {
    if (state == GROUND && need == 0) {
      if (asText && cursor == len) {
        // Whole lines straight to the output, else the line's text; then the state machine for
        // what neither takes.
        const from = p;
        if (bytes == 0 && !notDirect) p = feedLines(p, end);
        if (p < end) p = feedFast(p, end);
        if (p >= end) return;
        // After a newline the next line is feedLines' again; else what stopped them is below.
        if (p != from && bytes == 0) continue;
      }
      const run = printableRun(p, end);
      if (run > 0) {
        writeAscii(p, p + run);
        p += run;
        if (p >= end) return;
      }
      // The common controls and a complete CSI go straight through, not byte by byte; an
      // escape first, as logs have more of them than of anything else here.
      const b = load<u8>(p);
      if (b == 0x1b) {
        if (p + 1 < end && load<u8>(p + 1) == 0x5b) {
          const q = sgrCached(p + 2, end);
          if (q != 0) {
            p = q;
            continue;
          }
        }
      } else if (b == 0x0a) {
        newline();
        p++;
        continue;
      } else if (b == 0x0d) {
        // A redraw (progress bars): `\r`, mostly with `ESC[K` after it, taken in one step rather
        // than by the CSI path. The same as carriageReturn(), then csiFast's erase with no parameter.
        carriageReturn();
        if (p + 4 <= end && load<u32>(p) == 0x4b5b1b0d) {
          erase(0);
          p += 4;
        } else p++;
        continue;
      } else if (b >= 0xc2 && b <= 0xdf && p + 1 < end) {
        // Complete two- and three-byte UTF-8 whose lead byte has no special bounds.
        const c1 = <u32>load<u8>(p + 1);
        if ((c1 & 0xc0) == 0x80) {
          print(((<u32>b & 0x1f) << 6) | (c1 & 0x3f));
          p += 2;
          continue;
        }
      } else if (b >= 0xe1 && b <= 0xef && b != 0xed && p + 2 < end) {
        const c1 = <u32>load<u8>(p + 1);
        const c2 = <u32>load<u8>(p + 2);
        if ((c1 & 0xc0) == 0x80 && (c2 & 0xc0) == 0x80) {
          write(((<u32>b & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f));
          p += 3;
          continue;
        }
      }
    }
    step(<u32>load<u8>(p));
    p++;
  }
}

export function feedMask(): void {
  feed(mask, mask + 8);
}

/** End of a flush: a partial UTF-8 sequence becomes U+FFFD; a partial escape is dropped. */
export function finishParser(): void {
  if (need > 0) {
    need = 0;
    lower = 0x80;
    upper = 0xbf;
    write(0xfffd);
  }
  state = GROUND;
}

function step(b: u32): void {
  switch (state) {
    case GROUND:
      ground(b);
      return;
    case ESCAPE:
      escape(b);
      return;
    case ESC_INTERMEDIATE:
      if (b < 0x20) control(b);
      else if (b >= 0x30 && b < 0x7f) state = GROUND;
      return;
    case CSI_PARAM:
      csi(b);
      return;
    case CSI_IGNORE:
      if (b < 0x20) control(b);
      else if (b >= 0x40 && b < 0x7f) state = GROUND;
      return;
    case OSC:
      if (b == 0x07) {
        oscEnd();
        state = GROUND;
      } else if (b == 0x1b) state = OSC_ESC;
      else if (b == 0x18 || b == 0x1a) state = GROUND;
      else if (b >= 0x20) {
        if (oscLen < OSC_LIMIT_BYTES) store<u8>(osc + <usize>(oscLen++), <u8>b);
        else oscOverflow = true;
      }
      return;
    case OSC_ESC:
      oscEnd();
      state = GROUND;
      if (b != 0x5c) escape(b);
      return;
    case STRING:
      if (b == 0x07 || b == 0x18 || b == 0x1a) state = GROUND;
      else if (b == 0x1b) state = STRING_ESC;
      return;
    default:
      state = GROUND;
      if (b != 0x5c) escape(b);
  }
}

function ground(b: u32): void {
  if (need > 0) {
    if (b >= lower && b <= upper) {
      cp = (cp << 6) | (b & 0x3f);
      lower = 0x80;
      upper = 0xbf;
      if (--need == 0) print(cp);
      return;
    }
    need = 0;
    lower = 0x80;
    upper = 0xbf;
    write(0xfffd);
  }
  if (b < 0x80) {
    if (b >= 0x20 && b < 0x7f) write(b);
    else if (b == 0x1b) state = ESCAPE;
    else control(b);
  } else if (b >= 0xc2 && b <= 0xdf) {
    need = 1;
    cp = b & 0x1f;
  } else if (b >= 0xe0 && b <= 0xef) {
    if (b == 0xe0) lower = 0xa0;
    else if (b == 0xed) upper = 0x9f;
    need = 2;
    cp = b & 0x0f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    if (b == 0xf0) lower = 0x90;
    else if (b == 0xf4) upper = 0x8f;
    need = 3;
    cp = b & 0x07;
  } else write(0xfffd);
}

@inline function print(c: u32): void {
  // C1 controls decoded from UTF-8 are controls too: dropped.
  if (c >= 0x80 && c < 0xa0) return;
  write(c);
}

function control(b: u32): void {
  if (b == 0x0a) newline();
  else if (b == 0x0d) carriageReturn();
  else if (b == 0x08) backspace();
  else if (b == 0x09) tab();
  else if (b == 0x1b) state = ESCAPE;
  else if (b == 0x18 || b == 0x1a) state = GROUND;
}

function escape(b: u32): void {
  if (b < 0x20) {
    state = ESCAPE;
    control(b);
    return;
  }
  if (b == 0x5b) {
    state = CSI_PARAM;
    nparams = 0;
    param = 0;
    csiPrivate = false;
    csiStarted = false;
  } else if (b == 0x5d) {
    state = OSC;
    oscLen = 0;
    oscOverflow = false;
  } else if (b == 0x50 || b == 0x58 || b == 0x5e || b == 0x5f) state = STRING;
  else if (b >= 0x20 && b < 0x30) state = ESC_INTERMEDIATE;
  else if (b >= 0x30 && b < 0x7f) state = GROUND;
  else state = ESCAPE;
}

function csi(b: u32): void {
  if (b < 0x20) {
    control(b);
    return;
  }
  if (b >= 0x30 && b <= 0x39) {
    const v = param * 10 + <i32>(b - 0x30);
    param = v > CSI_PARAM_MAX ? CSI_PARAM_MAX : v;
    csiStarted = true;
  } else if (b == 0x3b || b == 0x3a) {
    pushParam();
    param = 0;
    csiStarted = true;
  } else if (b >= 0x3c && b <= 0x3f) {
    if (csiStarted) state = CSI_IGNORE;
    else {
      csiPrivate = true;
      csiStarted = true;
    }
  } else if (b >= 0x40 && b < 0x7f) {
    state = GROUND;
    pushParam();
    if (csiPrivate) return;
    if (b == 0x6d) sgr();
    else if (b == 0x4b) erase(paramAt(0));
  } else if (b >= 0x20 && b < 0x30) state = CSI_IGNORE;
}

@inline function lowerAt(p: usize, i: i32): u32 {
  return <u32>load<u8>(p + <usize>i) | 0x20;
}

/** Only http(s) targets become links: javascript:, data: and friends never reach a browser. */
function isWebUrl(p: usize, end: i32): bool {
  for (let i = 0; i < end; i++) {
    const b = load<u8>(p + <usize>i);
    if (b < 0x21 || b > 0x7e) return false;
  }
  let j = 0;
  if (end - j < 8) return false;
  if (lowerAt(p, j) != 0x68 || lowerAt(p, j + 1) != 0x74 || lowerAt(p, j + 2) != 0x74 || lowerAt(p, j + 3) != 0x70) return false;
  j += 4;
  if (lowerAt(p, j) == 0x73) j++;
  return (
    load<u8>(p + <usize>j) == 0x3a &&
    load<u8>(p + <usize>j + 1) == 0x2f &&
    load<u8>(p + <usize>j + 2) == 0x2f &&
    end - j > 3
  );
}

function oscEnd(): void {
  const n = oscLen;
  if (oscOverflow || n < 2 || load<u8>(osc) != 0x38 || load<u8>(osc + 1) != 0x3b) return;
  let i = 2;
  while (i < n && load<u8>(osc + <usize>i) != 0x3b) i++;
  hrefLength = 0;
  if (i < n) {
    // A link's target is shown too (the status bar, a copied link): masked like the text first.
    const m = maskInto(osc + <usize>(i + 1), n - i - 1, href);
    if (isWebUrl(href, m)) hrefLength = m;
  }
  setStyle(penFg, penBg, penAttrs, href, hrefLength);
}
