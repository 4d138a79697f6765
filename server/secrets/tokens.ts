// Bearer tokens (API, builder, registration): random, prefixed so secret scanners can recognise a leaked
// one (like GitHub's `ghp_`), and stored only as a hash, so a database leak reveals none.
import nacl from "tweetnacl";
import { randomBytes, toBase64Url, toHex, utf8 } from "../../protocol/encoding.ts";

export const TOKEN_PREFIXES = {
  /** Personal API token, for the REST API and the `cairn` CLI. */
  api: "cairn_pat",
  /** A registered builder's token. */
  builder: "cairn_bld",
  /** One-time token that lets a builder register. */
  registration: "cairn_reg",
} as const;

export type TokenPrefix = (typeof TOKEN_PREFIXES)[keyof typeof TOKEN_PREFIXES];

const TOKEN_BYTES = 32;
const PREFIX = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
// prefix, underscore, 43 base64url chars (32 bytes, no padding)
const TOKEN = /^([a-z][a-z0-9]*(?:_[a-z0-9]+)*)_([A-Za-z0-9_-]{43})$/;

/** `<prefix>_<43 chars of base64url>` carrying 256 random bits. */
export function newToken(prefix: TokenPrefix | (string & {})): string {
  if (!PREFIX.test(prefix))
    throw new TypeError(`token prefix must be lowercase snake_case, got ${JSON.stringify(prefix)}`);
  return `${prefix}_${toBase64Url(randomBytes(TOKEN_BYTES))}`;
}

/**
 * The prefix of a well-formed token (`cairn_pat_x…` → `cairn_pat`), or null. Lets a handler refuse a
 * builder token where an API token is expected before any lookup.
 */
export function tokenPrefix(token: string): string | null {
  if (typeof token !== "string") return null;
  // The random part may itself contain `_`, so take the last 43 characters as the random part.
  const match = TOKEN.exec(token);
  if (!match) return null;
  return token.slice(0, token.length - 44);
}

/**
 * What the database stores: SHA-512 (nacl.hash, synchronous and available everywhere) of the token's
 * UTF-8 bytes, as 128 hex chars. Unsalted is fine: tokens carry 256 random bits, nothing to brute-force.
 */
export function hashToken(token: string): string {
  return toHex(nacl.hash(utf8(token)));
}

/** Constant-time comparison of two tokens (or two hashes); the time does not depend on where they differ. */
export function tokensEqual(a: string, b: string): boolean {
  // Hash first so lengths differ no more than contents do, then compare fixed 64-byte digests.
  return nacl.verify(nacl.hash(utf8(a)), nacl.hash(utf8(b)));
}
