// The output just taken, again as Server-Sent Events: every line of the JSON at outBuf becomes
// "event: line\ndata: TEXT\nid: N\n\n", the form the server sends live viewers (server/logs/sse.ts,
// sseLines), so the host neither parses the JSON nor renders and encodes text per line. TEXT is the
// line's text unescaped: the writers (text.ts, cells.ts) escape only `"` and `\`, and a line's text
// holds no control character, so no newline splits its data field.
import { grow, newCapacity } from "./buffer";
import { outBuf, outLen } from "./output";

export let sseBuf: usize = 0;
let sseCap: i32 = 0;

const QUOTE: u8 = 0x22;
const BACKSLASH: u8 = 0x5c;

function putAscii(o: usize, s: string): usize {
  for (let i = 0; i < s.length; i++) store<u8>(o + <usize>i, <u8>s.charCodeAt(i));
  return o + <usize>s.length;
}

/** Renders the output's lines as SSE at sseBuf; returns its length. */
export function renderSse(): i32 {
  // Per line the JSON has at least 27 bytes of its own (`{"n":1,"text":"","spans":[]}`) and the
  // SSE at most 35 (with a 10-digit id), and the text is never longer unescaped: twice is room.
  const need = outLen * 2 + 64;
  if (need > sseCap) {
    sseBuf = grow(sseBuf, 0, need);
    sseCap = newCapacity(0, need);
  }
  const end = outBuf + <usize>outLen;
  let p = outBuf;
  let o = sseBuf;
  const quote = i8x16.splat(QUOTE);
  const backslash = i8x16.splat(BACKSLASH);
  while (p + 5 < end) {
    // `{"n":` — found only where a line starts.
    if (!(load<u8>(p) == 0x7b && load<u8>(p + 1) == QUOTE && load<u8>(p + 2) == 0x6e && load<u8>(p + 3) == QUOTE && load<u8>(p + 4) == 0x3a)) {
      p++;
      continue;
    }
    p += 5;
    const idAt = p;
    while (load<u8>(p) >= 0x30 && load<u8>(p) <= 0x39) p++;
    const idEnd = p;
    p += 9; // `,"text":"`
    o = putAscii(o, "event: line\ndata: ");
    // The text up to its closing quote, 16 bytes at a time where no escape is in them.
    for (;;) {
      if (p + 16 <= end) {
        const v = v128.load(p);
        if (!v128.any_true(v128.or(i8x16.eq(v, quote), i8x16.eq(v, backslash)))) {
          v128.store(o, v);
          o += 16;
          p += 16;
          continue;
        }
      }
      const b = load<u8>(p);
      if (b == QUOTE) break;
      if (b == BACKSLASH) p++;
      store<u8>(o, load<u8>(p));
      o++;
      p++;
    }
    p++;
    o = putAscii(o, "\nid: ");
    memory.copy(o, idAt, idEnd - idAt);
    o += idEnd - idAt;
    store<u16>(o, 0x0a0a);
    o += 2;
  }
  return <i32>(o - sseBuf);
}
