// The keyring: the current master key, which seals, and the previous ones, which still open during a
// rotation. Pure: no file system; master-key.ts loads the bytes from the environment or the key file.

import { bytesEqual, fromBase64, sha256Hex } from "../../protocol/encoding.ts";
import { MasterKeyError } from "./errors.ts";

export const MASTER_KEY_BYTES = 32;

/**
 * One 32-byte master key and its id (first 8 hex chars of its SHA-256), which envelopes carry so they
 * name the key that sealed them without revealing it. JSON and console output show the id only.
 */
export class MasterKey {
  private constructor(
    readonly id: string,
    readonly bytes: Uint8Array,
  ) {}

  static async fromBytes(bytes: Uint8Array): Promise<MasterKey> {
    if (bytes.length !== MASTER_KEY_BYTES) {
      throw new MasterKeyError(
        "master_key_invalid",
        `a master key must be ${MASTER_KEY_BYTES} bytes, got ${bytes.length}`,
      );
    }
    const copy = Uint8Array.from(bytes);
    return new MasterKey((await sha256Hex(copy)).slice(0, 8), copy);
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }

  toString(): string {
    return `MasterKey(${this.id})`;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

export interface Keyring {
  /** Seals every new value. */
  readonly current: MasterKey;
  /** Still open values sealed before a rotation; never used to seal. */
  readonly previous: readonly MasterKey[];
}

/** Builds a keyring; a previous key equal to the current one is dropped, so a half-done rotation still loads. */
export async function createKeyring(
  current: Uint8Array,
  previous: readonly Uint8Array[] = [],
): Promise<Keyring> {
  const currentKey = await MasterKey.fromBytes(current);
  const previousKeys: MasterKey[] = [];
  for (const bytes of previous) {
    const key = await MasterKey.fromBytes(bytes);
    if (key.id === currentKey.id || previousKeys.some((k) => k.id === key.id)) {
      // Same id: either the same key (harmless) or a 1-in-2^32 collision, which would make envelopes ambiguous.
      const known = [currentKey, ...previousKeys].find((k) => k.id === key.id)!;
      if (!bytesEqual(known.bytes, key.bytes)) {
        throw new MasterKeyError("master_key_invalid", `two different master keys share the id ${key.id}`);
      }
      continue;
    }
    previousKeys.push(key);
  }
  return { current: currentKey, previous: previousKeys };
}

/** The key with this id among the current and previous keys, or undefined. */
export function findKey(keyring: Keyring, id: string): MasterKey | undefined {
  if (keyring.current.id === id) return keyring.current;
  return keyring.previous.find((k) => k.id === id);
}

/**
 * Parses a base64 master key (as in CAIRN_MASTER_KEY or the key file). `source` names where it came from
 * in the error; the value itself is never echoed.
 */
export function parseMasterKey(text: string, source: string): Uint8Array {
  const bytes = fromBase64(text.trim());
  if (bytes === null) {
    throw new MasterKeyError(
      "master_key_invalid",
      `${source} is not valid base64; it must hold ${MASTER_KEY_BYTES} random bytes in base64 ` +
        `(for example the output of: head -c ${MASTER_KEY_BYTES} /dev/urandom | base64)`,
    );
  }
  if (bytes.length !== MASTER_KEY_BYTES) {
    throw new MasterKeyError(
      "master_key_invalid",
      `${source} decodes to ${bytes.length} bytes; a master key must be exactly ${MASTER_KEY_BYTES} bytes ` +
        `(for example the output of: head -c ${MASTER_KEY_BYTES} /dev/urandom | base64)`,
    );
  }
  return bytes;
}
