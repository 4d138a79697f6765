// What listings may show of a secret (a masked hint, never the value) and which names a secret may have.

export const HINT_MASK = "xxxx";
/** Values shorter than this show no characters at all in their hint. */
export const HINT_MIN_LENGTH = 12;
export const SECRET_NAME_MAX_LENGTH = 256;
/** 64 KiB: room for a private key or a certificate chain, small enough to mask in every log chunk. */
export const SECRET_VALUE_MAX_BYTES = 64 * 1024;
/**
 * Name prefixes Cairn keeps for the variables it sets in every job (CAIRN_*), and for CircleCI-style
 * variables it may set for compatibility (CIRCLE_*). Compared case-insensitively so `Cairn_X` cannot
 * sit beside `CAIRN_X` and confuse a reader.
 */
export const RESERVED_SECRET_PREFIXES = ["CAIRN_", "CIRCLE_"] as const;

const POSIX_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `xxxx` plus the last 4 characters when the value has 12 or more, otherwise just `xxxx`. */
export function secretHint(value: string): string {
  const chars = Array.from(value); // code points, so a hint never ends in half a surrogate pair
  return chars.length >= HINT_MIN_LENGTH ? HINT_MASK + chars.slice(-4).join("") : HINT_MASK;
}

/** An environment variable name for a secret: POSIX rules, ≤ 256 chars, not reserved. Error text or null. */
export function validateSecretName(name: string): string | null {
  if (typeof name !== "string" || name.length === 0) return "a secret name is required";
  if (name.length > SECRET_NAME_MAX_LENGTH) {
    return `a secret name is at most ${SECRET_NAME_MAX_LENGTH} characters (got ${name.length})`;
  }
  if (!POSIX_NAME.test(name)) {
    return "a secret name must start with a letter or underscore and contain only letters, digits and underscores";
  }
  const upper = name.toUpperCase();
  const reserved = RESERVED_SECRET_PREFIXES.find((prefix) => upper.startsWith(prefix));
  if (reserved) return `names starting with ${reserved} are reserved for variables Cairn sets in every job`;
  return null;
}

/** A secret's value: non-empty text of at most 64 KiB (UTF-8). Error text (never quoting the value) or null. */
export function validateSecretValue(value: string): string | null {
  if (typeof value !== "string") return "a secret value must be a string";
  if (value.length === 0) return "a secret value must not be empty";
  const bytes = new TextEncoder().encode(value).length;
  if (bytes > SECRET_VALUE_MAX_BYTES)
    return `a secret value is at most ${SECRET_VALUE_MAX_BYTES} bytes (got ${bytes})`;
  return null;
}
