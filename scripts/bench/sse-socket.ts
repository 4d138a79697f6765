// The fanout benchmark's SSE client: one HTTP/1.1 GET over a raw TCP socket (Bun.connect), the
// response body de-chunked and its events found in bytes. It does what fetch + TextDecoder did for
// the viewers at about half their CPU: on a 2-core machine the viewers' share is taken from the
// server being measured (see docs/perf.md, "Live log fanout"). Only what the benchmark reads is
// parsed: `line` events (id, and the send time that starts the line's text) and the `end` event.

const NL = 10;
const CR = 13;
const LINE_EVENT = new TextEncoder().encode("event: line\ndata: ");
const END_EVENT = new TextEncoder().encode("event: end\n");
const ID_FIELD = new TextEncoder().encode("\nid: ");
const decoder = new TextDecoder();

export interface SseHandlers {
  /** A `line` event: its id and the number its text starts with (NaN: none); `at` = when read. */
  line(id: number, sentAt: number, at: number): void;
  /** The `end` event; the connection is closed after it. */
  end(): void;
  /** Body bytes read (de-chunked). */
  read(n: number): void;
}

export interface SseRequest {
  /** http://host:port of the server. */
  server: string;
  path: string;
  headers: Record<string, string>;
}

/** Whether `bytes` holds `word` at `at`. */
function startsWith(bytes: Uint8Array, at: number, word: Uint8Array): boolean {
  if (at + word.length > bytes.length) return false;
  for (let i = 0; i < word.length; i++) if (bytes[at + i] !== word[i]) return false;
  return true;
}

/** The decimal number (digits and one optional fraction) at `at`; NaN if none. */
function numberAt(bytes: Uint8Array, at: number, end: number): number {
  let value = 0;
  let scale = 0;
  let digits = 0;
  for (let i = at; i < end; i++) {
    const b = bytes[i];
    if (b >= 48 && b <= 57) {
      value = value * 10 + (b - 48);
      if (scale) scale *= 10;
      digits++;
    } else if (b === 46 && !scale) scale = 1;
    else break;
  }
  if (!digits) return Number.NaN;
  return scale ? value / scale : value;
}

/** A growable byte buffer: bytes appended at the end, consumed from the front. */
class Bytes {
  buf = new Uint8Array(16 * 1024);
  len = 0;

  append(src: Uint8Array, from = 0, to = src.length): void {
    const n = to - from;
    if (this.len + n > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(src.subarray(from, to), this.len);
    this.len += n;
  }

  /** Drops the first `n` bytes. */
  consume(n: number): void {
    this.buf.copyWithin(0, n, this.len);
    this.len -= n;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/**
 * Opens one SSE stream. Resolves once the response head is in (rejects on a refused connection or a
 * status other than 200, with the body's start); `closed` settles when the connection ends.
 */
export function openSse(req: SseRequest, on: SseHandlers): Promise<{ closed: Promise<void>; close(): void }> {
  const url = new URL(req.server);
  const head =
    `GET ${req.path} HTTP/1.1\r\nHost: ${url.host}\r\n` +
    Object.entries(req.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("") +
    "\r\n";
  return new Promise((resolveHead, rejectHead) => {
    let headDone = false;
    let status = 0;
    let chunked = false;
    let errorText = "";
    const raw = new Bytes(); // the response head, then (chunked) undecoded body bytes
    const events = new Bytes(); // decoded body bytes not yet split into events
    let chunkLeft = 0; // payload bytes left in the current chunk; -1: reading its CRLF
    let settleClosed: () => void = () => {};
    const closed = new Promise<void>((r) => (settleClosed = r));
    let socketRef: { end(): void } | null = null;

    /** Handles the complete events at the start of `b`; returns where the rest starts. */
    const scanEvents = (b: Uint8Array, at: number): number => {
      let start = 0;
      for (;;) {
        // Fast path, the server's own layout of a line event: "event: line\ndata: TEXT\nid: N\n\n"
        // (a line's text holds no newline), read with one search and the bytes around it.
        if (b[start] === 0x65 && b[start + 6] === 0x3a && b[start + 7] === 0x20 && b[start + 8] === 0x6c) {
          const dataAt = start + LINE_EVENT.length;
          const dataEnd = b.indexOf(NL, dataAt);
          if (dataEnd < 0) break;
          if (b[dataEnd + 1] === 0x69 && b[dataEnd + 3] === 0x3a) {
            let id = 0;
            let p = dataEnd + ID_FIELD.length;
            for (; b[p] >= 48 && b[p] <= 57; p++) id = id * 10 + (b[p] - 48);
            if (p + 1 >= b.length) break; // the event's end is not in yet
            if (b[p] === NL && b[p + 1] === NL && p > dataEnd + ID_FIELD.length) {
              on.line(id, numberAt(b, dataAt, dataEnd), at);
              start = p + 2;
              continue;
            }
          }
        }
        let end = b.indexOf(NL, start);
        while (end >= 0 && b[end + 1] !== NL) end = b.indexOf(NL, end + 1);
        if (end < 0 || end + 1 >= b.length) break;
        if (startsWith(b, start, LINE_EVENT)) {
          // The server's layout, "event: line\ndata: …\nid: N": the id is the last field.
          const idAt = b.lastIndexOf(NL, end - 1);
          const id = startsWith(b, idAt, ID_FIELD) ? numberAt(b, idAt + ID_FIELD.length, end) : Number.NaN;
          on.line(id, numberAt(b, start + LINE_EVENT.length, end), at);
        } else if (startsWith(b, start, END_EVENT)) {
          on.end();
          socketRef?.end();
        }
        start = end + 2;
      }
      return start;
    };

    /**
     * Decoded body bytes read at `at`. Events are read where the bytes are when none is pending (the
     * server writes whole events); only an event's cut-off start is kept for the next read.
     */
    const body = (part: Uint8Array, at: number) => {
      on.read(part.length);
      if (events.len === 0) {
        const used = scanEvents(part, at);
        if (used < part.length) events.append(part, used);
      } else {
        events.append(part);
        events.consume(scanEvents(events.view(), at));
      }
    };

    /** De-chunks `data` (Transfer-Encoding: chunked) into `events`. */
    const dechunk = (data: Uint8Array, readAt: number) => {
      // Read from the socket's bytes unless a chunk-size line was cut: one copy of the payload, not two.
      if (raw.len) raw.append(data);
      const b = raw.len ? raw.view() : data;
      let at = 0;
      while (at < b.length) {
        if (chunkLeft > 0) {
          const n = Math.min(chunkLeft, b.length - at);
          body(b.subarray(at, at + n), readAt);
          at += n;
          chunkLeft -= n;
          if (chunkLeft === 0) chunkLeft = -1;
        } else if (chunkLeft === -1) {
          if (b.length - at < 2) break;
          at += 2; // the CRLF after a chunk's payload
          chunkLeft = 0;
        } else {
          const eol = b.indexOf(NL, at);
          if (eol < 0) break;
          const size = Number.parseInt(decoder.decode(b.subarray(at, eol)), 16);
          at = eol + 1;
          if (size === 0) {
            socketRef?.end();
            break;
          }
          chunkLeft = size;
        }
      }
      if (b === data) raw.append(data, at);
      else raw.consume(at);
    };

    const onHead = (data: Uint8Array) => {
      raw.append(data);
      const b = raw.view();
      let end = -1;
      for (let i = b.indexOf(CR); i >= 0 && i + 3 < b.length; i = b.indexOf(CR, i + 1))
        if (b[i + 1] === NL && b[i + 2] === CR && b[i + 3] === NL) {
          end = i;
          break;
        }
      if (end < 0) return;
      const text = decoder.decode(b.subarray(0, end));
      status = Number(text.slice(9, 12));
      chunked = /\r\ntransfer-encoding:\s*chunked/i.test(text);
      const rest = b.slice(end + 4);
      raw.len = 0;
      headDone = true;
      if (status === 200) resolveHead({ closed, close: () => socketRef?.end() });
      if (rest.length) onBody(rest);
    };

    const onBody = (data: Uint8Array) => {
      if (status !== 200) {
        errorText += decoder.decode(data);
        return;
      }
      const at = performance.timeOrigin + performance.now();
      if (chunked) dechunk(data, at);
      else body(data, at);
    };

    const finish = (err?: Error) => {
      if (!headDone) rejectHead(err ?? new Error("connection closed before the response head"));
      else if (status !== 200) rejectHead(new Error(`HTTP ${status}: ${errorText.slice(0, 300)}`));
      settleClosed();
    };

    Bun.connect({
      hostname: url.hostname,
      port: Number(url.port),
      socket: {
        open(socket) {
          socketRef = socket;
          socket.write(head);
        },
        data(_socket, data) {
          if (!headDone) onHead(data);
          else onBody(data);
        },
        close() {
          finish();
        },
        error(_socket, err) {
          finish(err);
        },
        connectError(_socket, err) {
          finish(err);
        },
      },
    }).catch((err) => finish(err));
  });
}
