// The parser's fast loops for what nearly every byte of a build log is: printable ASCII, SGR
// sequences the memo knows (style.ts), complete two- and three-byte UTF-8 and newlines. feedLines
// writes whole lines of these straight into the output's JSON; feedFast writes them at the end of
// a line held as text (text.ts), for lines feedLines left. The line's counters, the pen's style
// and where the last piece ended live in locals here and go back to their globals when they stop;
// anything else (a new SGR, another control, a line reaching 64 KiB) is left to parser.ts's state
// machine, whose results these must match exactly.
import { acEmpty, anySpace, inPair } from "./automaton";
import { penAttrs, penBg, penFg } from "./csi";
import { LINE_LIMIT_BYTES } from "./limits";
import { newline } from "./line";
import { bytes, cont, cursor, len, next, notDirect } from "./linestate";
import { chunkFits, chunkTakesLine, ensure, lineHeadAt, lineWritten, outBuf, outLen } from "./output";
import { anyToMask, scanWholeLine } from "./rendered";
import { SPAN_ROOM } from "./spans";
import { attrsOf, bgOf, compactStyles, current, fgOf, memoStyle, stylesOverflow, used } from "./style";
import {
  addRun, addSeam, closeLine, copyAscii, lastEnd, maybeEncoded, runCount, runs, seamCount, text, textCap, textRoom, units,
} from "./text";

/** Length of the printable-ASCII run at p (bytes 0x20..0x7e), 16 bytes at a time. */
@inline export function printableRun(p: usize, end: usize): usize {
  let q = p;
  const lo = i8x16.splat(0x20);
  const span = i8x16.splat(0x5f);
  while (q + 16 <= end) {
    const v = v128.load(q);
    const ok = i8x16.bitmask(i8x16.lt_u(i8x16.sub(v, lo), span));
    if (ok != 0xffff) return q - p + <usize>ctz(~ok);
    q += 16;
  }
  while (q < end) {
    const b = load<u8>(q);
    if (b < 0x20 || b > 0x7e) break;
    q++;
  }
  return q - p;
}

/** A seam before `next` at byte `at` of the line (text.ts's seam(), with the size in a local). */
@inline function seamAt(t: usize, at: i32, next: u32): void {
  if (at > 0 && inPair(<u32>load<u8>(t + <usize>(at - 1)), next)) addSeam(at);
}

/**
 * Runs from p while the bytes are of the kinds above, up to the end of the line; returns where
 * it stopped. The caller checked that the parser is in the ground state with no UTF-8 pending
 * and that the line is text with the cursor at its end.
 */
export function feedFast(p: usize, end: usize): usize {
  let q = p;
  let b = bytes;
  // Units and cells trail the bytes only by what multi-byte characters took: kept as those gaps.
  let du = b - units;
  let dl = b - len;
  let style = current;
  let isUsed = used;
  let last = lastEnd;
  let t = text;
  let runStyle = runCount > 0 ? load<i32>(runs + <usize>(runCount * 12 - 4)) : -1;
  let encoded = false;
  let hit = false;
  let ended = false;
  const masking = !acEmpty;
  while (true) {
    const run = <i32>printableRun(q, end);
    if (run > 0) {
      if (b + run > LINE_LIMIT_BYTES) break;
      if (b + run + 16 > textCap) t = textRoom(b + run + 16);
      if (style != runStyle) {
        addRun(b, b - du, style);
        runStyle = style;
      }
      if (masking && q != last) seamAt(t, b, <u32>load<u8>(q));
      if (copyAscii(t + <usize>b, q, run)) encoded = true;
      q += <usize>run;
      last = q;
      b += run;
      isUsed = true;
      if (q >= end) break;
    }
    const c = <u32>load<u8>(q);
    if (c == 0x1b) {
      // A short SGR seen before from this style: csi.ts sgrCached's test of its bytes, written out
      // here because the same through a shared inline function ran ~10 % slower in Bun
      // (JavaScriptCore's code for the loop); the memo's lookup (memoStyle) is shared at no cost
      // (1.000× and 1.003× the throughput). The input keeps 16 spare bytes.
      if (q + 10 > end || load<u8>(q + 1) != 0x5b) break;
      const v = v128.load(q + 2);
      const digits = v128.or(i8x16.lt_u(i8x16.sub(v, i8x16.splat(0x30)), i8x16.splat(10)), i8x16.eq(v, i8x16.splat(0x3b)));
      const k = <i32>ctz(~i8x16.bitmask(digits));
      if (k >= 8 || load<u8>(q + 2 + <usize>k) != 0x6d) break;
      const w = i64x2.extract_lane(v, 0);
      const key = k == 0 ? <u64>0 : w & ((<u64>1 << (<u64>k << 3)) - 1);
      const id = memoStyle(key, style);
      if (id < 0) break;
      if (id != style) {
        style = id;
        isUsed = true;
      }
      hit = true;
      q += <usize>(k + 3);
    } else if (c == 0x0a) {
      // The next line starts empty: feedLines' to take.
      ended = true;
      q++;
      break;
    } else if (c >= 0xe1 && c <= 0xef && c != 0xed) {
      // Complete three-byte UTF-8 whose lead byte has no special bounds: the input's bytes.
      if (q + 2 >= end || b + 3 > LINE_LIMIT_BYTES) break;
      const c1 = <u32>load<u8>(q + 1);
      const c2 = <u32>load<u8>(q + 2);
      if ((c1 & 0xc0) != 0x80 || (c2 & 0xc0) != 0x80) break;
      if (b + 20 > textCap) t = textRoom(b + 20);
      if (style != runStyle) {
        addRun(b, b - du, style);
        runStyle = style;
      }
      // Decoded, so a seam before it and one after (text.ts appendCodePoint).
      if (masking) seamAt(t, b, c);
      store<u8>(t + <usize>b, <u8>c);
      store<u8>(t + <usize>b, <u8>c1, 1);
      store<u8>(t + <usize>b, <u8>c2, 2);
      last = 0;
      b += 3;
      du += 2;
      dl += 2;
      isUsed = true;
      q += 3;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (q + 1 >= end || b + 2 > LINE_LIMIT_BYTES) break;
      const c1 = <u32>load<u8>(q + 1);
      if ((c1 & 0xc0) != 0x80) break;
      q += 2;
      // C1 controls decoded from UTF-8 are controls too: dropped.
      if (c != 0xc2 || c1 >= 0xa0) {
        if (style != runStyle) {
          addRun(b, b - du, style);
          runStyle = style;
        }
        if (b + 20 > textCap) t = textRoom(b + 20);
        if (masking) seamAt(t, b, c);
        store<u8>(t + <usize>b, <u8>c);
        store<u8>(t + <usize>b, <u8>c1, 1);
        last = 0;
        b += 2;
        du++;
        dl++;
        isUsed = true;
      }
    } else break;
    if (q >= end) break;
  }
  bytes = b;
  units = b - du;
  len = b - dl;
  cursor = b - dl;
  current = style;
  used = isUsed;
  lastEnd = last;
  if (encoded) maybeEncoded = true;
  if (hit) setPen(style);
  if (ended) newline();
  return q;
}

/** The pen and the current style after memoised SGRs that led to `style`. */
@inline function penTo(style: i32): void {
  if (style != current) {
    setPen(style);
    current = style;
  }
}

/** The pen after a memoised SGR: the fields of the style it led to (style.ts). */
@inline function setPen(style: i32): void {
  penFg = fgOf(style);
  penBg = bgOf(style);
  penAttrs = attrsOf(style);
}

/** The longest line feedLines writes straight into the output; a longer one goes on as text. */
const DIRECT_BYTES = 4096;

/**
 * Bits of the bytes of `v` that go into a line's JSON as they are: printable ASCII but `"`, `\`
 * and the bytes `noted` and `alsoNoted` (feedLines: those that make masking decode the text).
 */
@inline function asIs(v: v128, noted: v128, alsoNoted: v128): i32 {
  // 0x20..0x7e moved to -128..-34 and nothing else there: one signed compare (an unsigned one
  // takes four instructions on x86).
  const printable = i8x16.lt_s(i8x16.add(v, i8x16.splat(0x60)), i8x16.splat(-33));
  const escaped = v128.or(i8x16.eq(v, i8x16.splat(0x22)), i8x16.eq(v, i8x16.splat(0x5c)));
  const other = v128.or(i8x16.eq(v, noted), i8x16.eq(v, alsoNoted));
  return i8x16.bitmask(v128.andnot(printable, v128.or(escaped, other)));
}

/**
 * Whole lines from p straight into the output's JSON: the text escaped as it is scanned, its style
 * runs noted as feedFast notes them, and at the newline the spans and the line's end written after
 * it, instead of the text being gathered in text.ts and copied out by emitText. Takes the bytes
 * feedFast takes; returns where it stopped. A line it cannot finish (anything else, the end of the
 * input, DIRECT_BYTES) is left in text.ts's form, as if feedFast had written it, for feedFast and
 * the state machine to go on with; so is a line that masking or its chunk's size concern (emit()
 * then writes it). The caller checked that the parser is in the ground state with no UTF-8 pending
 * and that the line is empty and held as text.
 */
export function feedLines(p: usize, end: usize): usize {
  let q = p;
  let style = current;
  const masking = !acEmpty;
  // With patterns, `%` and `+` (a space percent-decoded, which only matters when a pattern has
  // one) stop a run, to be noted (copyAscii's test); else these are `"` again.
  const percent = i8x16.splat(masking ? 0x25 : 0x22);
  const plus = i8x16.splat(masking && anySpace ? 0x2b : 0x22);
  while (q < end && chunkTakesLine()) {
    ensure(DIRECT_BYTES * 2 + 128);
    const n = next;
    const head = lineHeadAt(outBuf + <usize>outLen, n);
    store<u64>(head, 0x3a2274786574222c); // `,"text":"`
    store<u8>(head, 0x22, 8);
    const textAt = head + 9;
    let o = textAt;
    // Where the text would start without the backslashes written before `"` and `\`: the text
    // is (o - base) bytes.
    let base = textAt;
    // Units and cells trail the bytes by what multi-byte characters took, the same for both here
    // (no four-byte UTF-8): kept as that gap.
    let du = 0;
    let runStyle = -1;
    const lineStyle = style;
    let last: usize = 0;
    const stop = end - q > <usize>DIRECT_BYTES ? q + <usize>DIRECT_BYTES : end;
    while (true) {
      let c = <u32>load<u8>(q);
      // An escape is tested first: it is as common as a printable run, and its turn is then short.
      if (c != 0x1b) {
        // A printable run, copied a block at a time (the output keeps slack for the last one).
        let v = v128.load(q);
        v128.store(o, v);
        let ok = asIs(v, percent, plus);
        if (ok & 1) {
          const b = <i32>(o - base);
          if (style != runStyle) {
            addRun(b, b - du, style);
            runStyle = style;
          }
          if (masking && q != last && b > 0 && inPair(<u32>load<u8>(o - 1), <u32>load<u8>(q))) addSeam(b);
          let k: i32 = <i32>ctz(~ok);
          if (k == 16) {
            // A long run (words, paths): the next 48 bytes classified at once, so that where it
            // ends, mostly among them, takes no branch a block (whose last turn varies with the
            // text: a misprediction a line).
            q += 16;
            o += 16;
            k = -1;
            while (q + 48 <= stop) {
              const v1 = v128.load(q);
              const v2 = v128.load(q, 16);
              const v3 = v128.load(q, 32);
              v128.store(o, v1);
              v128.store(o, v2, 16);
              v128.store(o, v3, 32);
              const all =
                <u64>asIs(v1, percent, plus) | (<u64>asIs(v2, percent, plus) << 16) | (<u64>asIs(v3, percent, plus) << 32);
              if (all != 0xffffffffffff) {
                k = <i32>ctz(~all);
                break;
              }
              q += 48;
              o += 48;
            }
            if (k < 0) {
              // Near the stop: a block at a time.
              k = 0;
              while (q < stop) {
                v = v128.load(q);
                v128.store(o, v);
                k = <i32>ctz(~asIs(v, percent, plus));
                if (k < 16) break;
                q += 16;
                o += 16;
                k = 0;
              }
            }
          }
          q += <usize>k;
          o += <usize>k;
          if (q >= stop) {
            o -= q - stop;
            q = stop;
            last = q;
            break;
          }
          last = q;
          c = <u32>load<u8>(q);
        }
      }
      if (c == 0x1b) {
        // A short SGR the memo knows (feedFast's test, another way). Its length is guessed from
        // where an `m` is, by branches, so the next step's position need not wait for a scan of
        // its parameters; the guess is right if the memo holds the parameters it gives: a key
        // there is parameter bytes only, none of them 0. (Guessed parameters that end in 0 bytes
        // match a shorter key: NUL inside a CSI is a control that does nothing, so that SGR is
        // the shorter one's.)
        if (q + 10 > end) break;
        // `ESC [`, the parameters and `m` tested in one word: 0x1b 0x5b at its bottom.
        const w = load<u64>(q);
        let k: i32;
        let key: u64;
        if ((w & 0xff0000ffff) == 0x6d00005b1b) {
          k = 2;
          key = (w >> 16) & 0xffff;
        } else if ((w & 0xff00ffff) == 0x6d005b1b) {
          k = 1;
          key = (w >> 16) & 0xff;
        } else if ((w & 0xff000000ffff) == 0x6d0000005b1b) {
          k = 3;
          key = (w >> 16) & 0xffffff;
        } else {
          if (load<u8>(q + 1) != 0x5b) break;
          const w16 = v128.load(q + 2);
          const digits = v128.or(i8x16.lt_u(i8x16.sub(w16, i8x16.splat(0x30)), i8x16.splat(10)), i8x16.eq(w16, i8x16.splat(0x3b)));
          k = <i32>ctz(~i8x16.bitmask(digits));
          if (k >= 8 || load<u8>(q + 2 + <usize>k) != 0x6d) break;
          key = k == 0 ? <u64>0 : i64x2.extract_lane(w16, 0) & ((<u64>1 << (<u64>k << 3)) - 1);
        }
        const id = memoStyle(key, style);
        if (id < 0) break;
        style = id;
        q += <usize>(k + 3);
      } else if (c == 0x0a) break;
      else if (c >= 0xe1 && c <= 0xef && c != 0xed) {
        // As in feedFast.
        if (q + 2 >= end) break;
        const c1 = <u32>load<u8>(q + 1);
        const c2 = <u32>load<u8>(q + 2);
        if ((c1 & 0xc0) != 0x80 || (c2 & 0xc0) != 0x80) break;
        const b = <i32>(o - base);
        if (style != runStyle) {
          addRun(b, b - du, style);
          runStyle = style;
        }
        if (masking && b > 0 && inPair(<u32>load<u8>(o - 1), c)) addSeam(b);
        store<u8>(o, <u8>c);
        store<u8>(o, <u8>c1, 1);
        store<u8>(o, <u8>c2, 2);
        o += 3;
        last = 0;
        du += 2;
        q += 3;
      } else if (c == 0x22 || c == 0x5c || c == 0x25 || c == 0x2b) {
        // Printable, escaped in JSON or noted: the run goes on.
        const b = <i32>(o - base);
        if (style != runStyle) {
          addRun(b, b - du, style);
          runStyle = style;
        }
        if (masking && q != last && b > 0 && inPair(<u32>load<u8>(o - 1), c)) addSeam(b);
        if (c == 0x22 || c == 0x5c) {
          store<u8>(o, 0x5c);
          store<u8>(o, <u8>c, 1);
          o += 2;
          base++;
        } else {
          store<u8>(o, <u8>c);
          o++;
          maybeEncoded = true;
        }
        q++;
        last = q;
      } else if (c >= 0xc2 && c <= 0xdf) {
        if (q + 1 >= end) break;
        const c1 = <u32>load<u8>(q + 1);
        if ((c1 & 0xc0) != 0x80) break;
        q += 2;
        // C1 controls decoded from UTF-8 are controls too: dropped.
        if (c != 0xc2 || c1 >= 0xa0) {
          const b = <i32>(o - base);
          if (style != runStyle) {
            addRun(b, b - du, style);
            runStyle = style;
          }
          if (masking && b > 0 && inPair(<u32>load<u8>(o - 1), c)) addSeam(b);
          store<u8>(o, <u8>c);
          store<u8>(o, <u8>c1, 1);
          o += 2;
          last = 0;
          du++;
        }
      } else break;
      if (q >= stop) break;
    }
    const b = <i32>(o - base);
    const escaped = base != textAt;
    // Stopped at the newline (also when a DIRECT_BYTES stop fell on it: the line is whole).
    const ended = q < end && load<u8>(q) == 0x0a;
    if (ended) {
      let direct = chunkFits(b);
      if (direct && masking && (seamCount > 0 || maybeEncoded || scanWholeLine)) {
        // maskText's test, on the text where it is (with no escapes, the line's own bytes).
        direct = !escaped && !anyToMask(textAt, b);
      }
      if (direct) {
        const at = o - outBuf;
        ensure(<i32>at - outLen + runCount * SPAN_ROOM + 32);
        lineWritten(closeLine(outBuf + at, b - du), n, b);
        next = n + 1;
        runCount = 0;
        seamCount = 0;
        maybeEncoded = false;
        cont = false;
        // emit()'s compactStyles.
        used = false;
        if (stylesOverflow()) {
          penTo(style);
          compactStyles();
          style = current;
        }
        q++;
        continue;
      }
    }
    // The line as text.ts holds it, the escapes taken out.
    const t = textRoom(b + 16);
    if (!escaped) memory.copy(t, textAt, <usize>b);
    else {
      let i: usize = 0;
      for (let from = textAt; from < o; from++) {
        let x = load<u8>(from);
        if (x == 0x5c) x = load<u8>(++from);
        store<u8>(t + i++, x);
      }
    }
    bytes = b;
    units = b - du;
    len = b - du;
    cursor = b - du;
    penTo(style);
    // Whether a cell of the line may be in the current style (style.ts), as feedFast has it or
    // more: the line has text, or a memoised SGR changed the style.
    if (b > 0 || style != lineStyle) used = true;
    lastEnd = last;
    if (!ended) {
      if (q < end) notDirect = true;
      return q;
    }
    newline();
    q++;
    style = current;
  }
  penTo(style);
  return q;
}
