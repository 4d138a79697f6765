// CSI parameters and SGR: the pen (colours, attributes, link) and how sequences change it,
// including the memo that lets a repeated SGR skip parsing. Part of parser.ts's state machine.
import { CSI_MAX_PARAMS, CSI_PARAM_MAX, OSC_LIMIT_BYTES } from "./limits";
import { erase } from "./line";
import { attrsOf, bgOf, current, fgOf, PALETTE, RGB, rememberSgr, setStyle, sgrMemo, useStyle } from "./style";

export let params: usize = 0;
export let nparams = 0;
export let param: i32 = 0;
export let penFg: u32 = 0;
export let penBg: u32 = 0;
export let penAttrs: u32 = 0;
/** The pen's OSC 8 link (bytes at href), 0 long when none. */
export let href: usize = 0;
export let hrefLength = 0;

export function initCsi(): void {
  params = heap.alloc(<usize>CSI_MAX_PARAMS << 2);
  // Twice the payload: masking a link can lengthen it (a 4-byte secret becomes 8 stars).
  href = heap.alloc(<usize>(OSC_LIMIT_BYTES * 2 + 16));
}

/**
 * A short SGR (`ESC [` up to 7 digit/';' bytes `m`) seen before from the same style: its
 * result comes from the memo in style.ts instead of being parsed and applied again. Logs
 * repeat a handful of these on every line. Falls back to csiFast, then remembers.
 */
export function sgrCached(q: usize, end: usize): usize {
  if (q + 8 > end) return csiFast(q, end);
  // Where the digits and ';' stop, for eight bytes at once (the input keeps 16 spare bytes).
  const v = v128.load(q);
  const param = v128.or(i8x16.lt_u(i8x16.sub(v, i8x16.splat(0x30)), i8x16.splat(10)), i8x16.eq(v, i8x16.splat(0x3b)));
  const k = <i32>ctz(~i8x16.bitmask(param));
  if (k >= 8 || load<u8>(q + <usize>k) != 0x6d) return csiFast(q, end);
  const w = i64x2.extract_lane(v, 0);
  const key = k == 0 ? <u64>0 : w & ((<u64>1 << (<u64>k << 3)) - 1);
  const from = current;
  const to = sgrMemo(key, from);
  if (to >= 0) {
    penFg = fgOf(to);
    penBg = bgOf(to);
    penAttrs = attrsOf(to);
    useStyle(to);
    return q + <usize>k + 1;
  }
  const next = csiFast(q, end);
  rememberSgr(key, from, current);
  return next;
}

/**
 * A CSI whose parameters and final byte are all in [q, end) and plain (digits, ';', ':'),
 * dispatched exactly as the state machine would; returns the position after it, or 0 to
 * leave the sequence to the state machine (private markers, intermediates, split chunks).
 */
export function csiFast(q: usize, end: usize): usize {
  nparams = 0;
  param = 0;
  while (q < end) {
    const b = <u32>load<u8>(q);
    if (b - 0x30 < 10) {
      const v = param * 10 + <i32>(b - 0x30);
      param = v > CSI_PARAM_MAX ? CSI_PARAM_MAX : v;
    } else if (b == 0x3b || b == 0x3a) {
      pushParam();
      param = 0;
    } else if (b >= 0x40 && b < 0x7f) {
      pushParam();
      if (b == 0x6d) sgr();
      else if (b == 0x4b) erase(paramAt(0));
      return q + 1;
    } else return 0;
    q++;
  }
  return 0;
}


@inline export function pushParam(): void {
  if (nparams < CSI_MAX_PARAMS) store<i32>(params + (<usize>(nparams++) << 2), param);
}

@inline export function paramAt(i: i32): i32 {
  return load<i32>(params + (<usize>i << 2));
}


export function sgr(): void {
  const n = nparams;
  let fg = penFg;
  let bg = penBg;
  let attrs = penAttrs;
  let i = 0;
  while (i < n) {
    const v = paramAt(i);
    // A switch compiles to one jump table; SGR is the parser's busiest dispatch.
    switch (v) {
      case 0:
        fg = 0;
        bg = 0;
        attrs = 0;
        break;
      case 1:
        attrs |= 1;
        break;
      case 2:
        attrs |= 2;
        break;
      case 3:
        attrs |= 4;
        break;
      case 4:
        attrs |= 8;
        break;
      case 7:
        attrs |= 16;
        break;
      case 9:
        attrs |= 32;
        break;
      case 22:
        attrs &= ~3;
        break;
      case 23:
        attrs &= ~4;
        break;
      case 24:
        attrs &= ~8;
        break;
      case 27:
        attrs &= ~16;
        break;
      case 29:
        attrs &= ~32;
        break;
      case 30: case 31: case 32: case 33: case 34: case 35: case 36: case 37:
        fg = PALETTE | <u32>(v - 30);
        break;
      case 39:
        fg = 0;
        break;
      case 40: case 41: case 42: case 43: case 44: case 45: case 46: case 47:
        bg = PALETTE | <u32>(v - 40);
        break;
      case 49:
        bg = 0;
        break;
      case 90: case 91: case 92: case 93: case 94: case 95: case 96: case 97:
        fg = PALETTE | <u32>(v - 82);
        break;
      case 100: case 101: case 102: case 103: case 104: case 105: case 106: case 107:
        bg = PALETTE | <u32>(v - 92);
        break;
      default:
        if ((v == 38 || v == 48) && i + 1 < n && (paramAt(i + 1) == 5 || paramAt(i + 1) == 2)) {
          let c: i64 = -1;
          if (paramAt(i + 1) == 5) {
            if (i + 2 < n && paramAt(i + 2) <= 255) c = <i64>(PALETTE | <u32>paramAt(i + 2));
            i += 3;
          } else {
            if (i + 4 < n && paramAt(i + 2) <= 255 && paramAt(i + 3) <= 255 && paramAt(i + 4) <= 255) {
              c = <i64>(RGB | (<u32>paramAt(i + 2) << 16) | (<u32>paramAt(i + 3) << 8) | <u32>paramAt(i + 4));
            }
            i += 5;
          }
          if (c >= 0) {
            if (v == 38) fg = <u32>c;
            else bg = <u32>c;
          }
          continue;
        }
    }
    i++;
  }
  penFg = fg;
  penBg = bg;
  penAttrs = attrs;
  setStyle(fg, bg, attrs, href, hrefLength);
}

