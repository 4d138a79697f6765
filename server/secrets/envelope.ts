// Sealing secret values at rest: nacl.secretbox under the current master key, with a fresh random nonce,
// written as a versioned envelope `v1:<keyId>:<base64 nonce>:<base64 ciphertext>`.
//
// The boxed plaintext starts with a 16-byte tag of the row's `context` (e.g. `envvar:<projectId>:<name>`),
// so a ciphertext copied into another row authenticates but is refused as misplaced. Opening never
// returns bytes that did not authenticate: every failure is a SecretEnvelopeError naming the row.
import nacl from "tweetnacl";
import { bytesEqual, fromBase64, fromUtf8, randomBytes, toBase64, utf8 } from "../../protocol/encoding.ts";
import { SecretEnvelopeError } from "./errors.ts";
import { findKey, type Keyring } from "./keyring.ts";

export const ENVELOPE_VERSION = "v1";
const NONCE_BYTES = nacl.secretbox.nonceLength; // 24
const CONTEXT_TAG_BYTES = 16;
const KEY_ID = /^[0-9a-f]{8}$/;

export interface ParsedEnvelope {
  version: string;
  keyId: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** Seals `plaintext` under the keyring's current key, bound to `context` (default: no context). */
export function seal(keyring: Keyring, plaintext: string | Uint8Array, context = ""): string {
  const payload = typeof plaintext === "string" ? utf8(plaintext) : plaintext;
  const inner = new Uint8Array(CONTEXT_TAG_BYTES + payload.length);
  inner.set(contextTag(context), 0);
  inner.set(payload, CONTEXT_TAG_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const boxed = nacl.secretbox(inner, nonce, keyring.current.bytes);
  inner.fill(0);
  return `${ENVELOPE_VERSION}:${keyring.current.id}:${toBase64(nonce)}:${toBase64(boxed)}`;
}

/**
 * Opens an envelope sealed by `seal` with the same `context`, as UTF-8 text. `rowLabel` (default: the
 * context) names the row in errors. Throws SecretEnvelopeError; never returns unauthenticated data.
 */
export function open(keyring: Keyring, envelope: string, context = "", rowLabel?: string): string {
  const bytes = openBytes(keyring, envelope, context, rowLabel);
  try {
    return fromUtf8(bytes);
  } catch {
    throw new SecretEnvelopeError(
      "secret_envelope_not_text",
      `${describe(context, rowLabel)} holds binary data, not text; open it with openBytes`,
      rowLabel ?? (context || undefined),
    );
  }
}

/** Like `open`, for values sealed from bytes. */
export function openBytes(keyring: Keyring, envelope: string, context = "", rowLabel?: string): Uint8Array {
  const row = rowLabel ?? (context || undefined);
  const what = describe(context, rowLabel);
  const parsed = parseEnvelope(envelope, row, what);
  const key = findKey(keyring, parsed.keyId);
  if (!key) {
    const known = [keyring.current, ...keyring.previous].map((k) => k.id).join(", ");
    throw new SecretEnvelopeError(
      "secret_key_unknown",
      `${what} was sealed with master key ${parsed.keyId}, which is not loaded (loaded: ${known}); ` +
        "start the server with that key as CAIRN_MASTER_KEY_PREVIOUS or master.key.previous",
      row,
    );
  }
  const inner = nacl.secretbox.open(parsed.ciphertext, parsed.nonce, key.bytes);
  if (!inner || inner.length < CONTEXT_TAG_BYTES) {
    throw new SecretEnvelopeError(
      "secret_envelope_corrupt",
      `${what} does not authenticate under master key ${parsed.keyId}: the envelope was altered or ` +
        "the key is wrong; nothing was decrypted",
      row,
    );
  }
  if (!bytesEqual(inner.subarray(0, CONTEXT_TAG_BYTES), contextTag(context))) {
    inner.fill(0);
    throw new SecretEnvelopeError(
      "secret_envelope_misplaced",
      `${what} holds a value sealed for a different row (its ciphertext was copied or moved); refusing it`,
      row,
    );
  }
  const value = inner.slice(CONTEXT_TAG_BYTES);
  inner.fill(0);
  return value;
}

/** True when the envelope was sealed under a key other than the keyring's current one. */
export function needsReseal(keyring: Keyring, envelope: string): boolean {
  return envelopeKeyId(envelope) !== keyring.current.id;
}

/** The id of the master key that sealed this envelope. Throws SecretEnvelopeError if it is not an envelope. */
export function envelopeKeyId(envelope: string, rowLabel?: string): string {
  return parseEnvelope(envelope, rowLabel).keyId;
}

/** Whether `value` has the shape of an envelope (does not authenticate it). */
export function isEnvelope(value: string): boolean {
  try {
    parseEnvelope(value);
    return true;
  } catch {
    return false;
  }
}

/** Splits an envelope into its parts without opening it; `rowLabel` names the row in the error. */
export function parseEnvelope(
  envelope: string,
  rowLabel?: string,
  what = describe("", rowLabel),
): ParsedEnvelope {
  const row = rowLabel;
  const parts = typeof envelope === "string" ? envelope.split(":") : [];
  if (parts.length === 4 && parts[0] !== ENVELOPE_VERSION && /^v\d+$/.test(parts[0])) {
    throw new SecretEnvelopeError(
      "secret_envelope_version",
      `${what} is a ${parts[0]} envelope; this server reads ${ENVELOPE_VERSION} (was it written by a newer Cairn?)`,
      row,
    );
  }
  const [version, keyId, nonceText, ciphertextText] = parts;
  const nonce = parts.length === 4 ? fromBase64(nonceText) : null;
  const ciphertext = parts.length === 4 ? fromBase64(ciphertextText) : null;
  if (
    version !== ENVELOPE_VERSION ||
    !KEY_ID.test(keyId) ||
    nonce?.length !== NONCE_BYTES ||
    !ciphertext ||
    ciphertext.length < nacl.secretbox.overheadLength + CONTEXT_TAG_BYTES
  ) {
    throw new SecretEnvelopeError(
      "secret_envelope_malformed",
      `${what} is not a well-formed envelope (expected ${ENVELOPE_VERSION}:<keyId>:<nonce>:<ciphertext>)`,
      row,
    );
  }
  return { version, keyId, nonce, ciphertext };
}

function contextTag(context: string): Uint8Array {
  // SHA-512 (nacl.hash) with a domain prefix, truncated: binds the value to its row without storing the context.
  return nacl.hash(utf8(`cairn-secret-context-v1\0${context}`)).subarray(0, CONTEXT_TAG_BYTES);
}

function describe(context: string, rowLabel: string | undefined): string {
  const label = rowLabel ?? context;
  return label ? `secret ${JSON.stringify(label)}` : "secret";
}
