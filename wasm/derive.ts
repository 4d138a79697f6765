// The byte patterns a secret is masked as: the value itself plus the encodings a build is
// likely to print it in. Shared by both pipelines so they mask exactly the same things.
import { MIN_SECRET_BYTES } from "./limits.ts";

const utf8 = new TextEncoder();
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** False for values that will not be masked (under 4 bytes), so the API can warn when one is saved. */
export function isMaskable(secret: string): boolean {
  return utf8.encode(secret).length >= MIN_SECRET_BYTES;
}

/**
 * Base64 characters that depend only on `bytes` when they sit `align` bytes into a longer
 * value: the characters sharing bits with unknown neighbours are left out, so the form is
 * found wherever the secret is embedded (`user:pass` → base64 still hides `pass`).
 */
function base64Core(bytes: Uint8Array, align: number): string {
  const bits = (align + bytes.length) * 8;
  const padded = new Uint8Array(align + bytes.length + 2);
  padded.set(bytes, align);
  let out = "";
  for (let i = Math.ceil((align * 8) / 6); (i + 1) * 6 <= bits; i++) {
    const bit = i * 6;
    const byte = bit >> 3;
    const word = (padded[byte] << 8) | padded[byte + 1];
    out += B64[(word >> (10 - (bit & 7))) & 63];
  }
  return out;
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** `+` and space are one symbol in percent-decoded text (a `+` in a query string is a space). */
export const canonical = (b: number): number => (b === 0x2b ? 0x20 : b);

/** The value of a hex digit (either case), -1 for any other byte. */
export function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
}

/** `%XX` (either case) → the byte; everything else as it is. */
function percentDecode(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const hi = i + 2 < bytes.length && bytes[i] === 0x25 ? hexValue(bytes[i + 1]) : -1;
    const lo = hi >= 0 ? hexValue(bytes[i + 2]) : -1;
    if (lo >= 0) {
      out.push(hi * 16 + lo);
      i += 2;
    } else out.push(bytes[i]);
  }
  return Uint8Array.from(out);
}

/** All byte patterns for one secret, deduplicated, each at least 4 bytes; empty when not maskable. */
export function derivedForms(secret: string): Uint8Array[] {
  const raw = utf8.encode(secret);
  if (raw.length < MIN_SECRET_BYTES) return [];
  const forms = new Map<string, Uint8Array>();
  const add = (b: Uint8Array) => {
    if (b.length >= MIN_SECRET_BYTES) forms.set(latin1(b), b);
  };
  const addText = (s: string) => add(utf8.encode(s));
  add(raw);
  if (secret.includes("\n")) {
    // Keys and certificates: whole (also after a PTY turned \n into \r\n) and line by line.
    addText(secret.replace(/\r?\n/g, "\r\n"));
    for (const line of secret.split("\n")) addText(line.replace(/\r$/, ""));
  }
  for (let align = 0; align < 3; align++) {
    const std = base64Core(raw, align);
    addText(std);
    addText(std.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  const url = encodeURIComponent(secret);
  addText(url);
  addText(url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
  if (secret.includes(" ")) addText(url.replace(/%20/g, "+"));
  addText(JSON.stringify(secret).slice(1, -1));
  // What rendered text looks like percent-decoded (wasm/reference/rendered.ts): `+` and space are
  // one symbol there, and a `%XX` in the secret itself may have been decoded too.
  add(raw.map(canonical));
  add(percentDecode(raw).map(canonical));
  return [...forms.values()];
}
