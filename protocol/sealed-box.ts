// Sealed delivery of a job's secrets to one builder: nacl.box from a fresh ephemeral key pair to the
// builder's public key (like libsodium's sealed box), so only the holder of that builder's private key,
// which never leaves its fleet host, can open the payload. Depends on tweetnacl and Web APIs only: the
// server seals with it (server/services/scheduler.ts), the builder opens (builder/job-runner.ts, checkout.ts).
import nacl from "tweetnacl";
import { bytesEqual, fromBase64, fromUtf8, randomBytes, toBase64, toHex, utf8 } from "./encoding.ts";
import { SealedSecretsError } from "./errors.ts";
import type { SealedSecrets } from "./schemas.ts";

export type { SealedSecrets };

export const SEALED_SECRETS_VERSION = 1;

export interface BuilderKeyPair {
  /** base64, 32 bytes; sent to the server at registration. */
  publicKey: string;
  /** base64, 32 bytes; stays on the fleet host (0600). */
  secretKey: string;
}

export function generateBuilderKeyPair(): BuilderKeyPair {
  const secret = randomBytes(nacl.box.secretKeyLength);
  const pair = nacl.box.keyPair.fromSecretKey(secret);
  const result = { publicKey: toBase64(pair.publicKey), secretKey: toBase64(pair.secretKey) };
  secret.fill(0);
  pair.secretKey.fill(0);
  return result;
}

/** Short, stable name for a builder public key, for logs and errors (first 16 hex chars of its SHA-512). */
export function builderKeyFingerprint(publicKeyB64: string): string {
  return toHex(nacl.hash(decodeKey(publicKeyB64, "builder public key")).subarray(0, 8));
}

/**
 * Seals `secrets` (name → value) to the builder's public key. `context` (e.g. the job id) is bound into
 * the payload, so a payload replayed into another job fails to open there.
 */
export function sealForBuilder(
  builderPublicKeyB64: string,
  secrets: Record<string, string>,
  context = "",
): SealedSecrets {
  const recipient = decodeKey(builderPublicKeyB64, "builder public key");
  for (const [name, value] of Object.entries(secrets)) {
    if (typeof value !== "string") {
      throw new SealedSecretsError(
        "sealed_secrets_invalid",
        `secret ${JSON.stringify(name)} is not a string`,
        400,
      );
    }
  }
  const ephemeral = nacl.box.keyPair.fromSecretKey(randomBytes(nacl.box.secretKeyLength));
  // X25519 ignores the top bit of a public key, so the outer keys are repeated inside the box: a payload
  // whose ephemeral key or recipient was altered in any bit then fails, as libsodium's sealed box does.
  const keys = `${toBase64(ephemeral.publicKey)}:${toBase64(recipient)}`;
  const plaintext = utf8(JSON.stringify({ keys, context, secrets }));
  const nonce = randomBytes(nacl.box.nonceLength);
  const ciphertext = nacl.box(plaintext, nonce, recipient, ephemeral.secretKey);
  ephemeral.secretKey.fill(0);
  plaintext.fill(0);
  return {
    version: SEALED_SECRETS_VERSION,
    recipient: toBase64(recipient),
    ephemeralPublicKey: toBase64(ephemeral.publicKey),
    nonce: toBase64(nonce),
    ciphertext: toBase64(ciphertext),
  };
}

/**
 * Opens a payload sealed by sealForBuilder with this builder's secret key and the same `context`.
 * Throws SealedSecretsError: `sealed_secrets_wrong_builder`, `sealed_secrets_corrupt`,
 * `sealed_secrets_misplaced`, `sealed_secrets_malformed`, `builder_key_invalid`.
 */
export function openSealedSecrets(
  sealed: SealedSecrets,
  builderSecretKeyB64: string,
  context = "",
): Record<string, string> {
  const secretKey = decodeKey(builderSecretKeyB64, "builder secret key");
  try {
    return openWith(sealed, secretKey, context);
  } finally {
    secretKey.fill(0);
  }
}

function openWith(sealed: SealedSecrets, secretKey: Uint8Array, context: string): Record<string, string> {
  const ownPublic = nacl.box.keyPair.fromSecretKey(secretKey).publicKey;
  if (sealed === null || typeof sealed !== "object" || sealed.version !== SEALED_SECRETS_VERSION) {
    throw malformed(
      `unsupported sealed secrets version ${JSON.stringify((sealed as { version?: unknown })?.version)}`,
    );
  }
  const recipient = fromBase64String(sealed.recipient);
  const ephemeralPublicKey = fromBase64String(sealed.ephemeralPublicKey);
  const nonce = fromBase64String(sealed.nonce);
  const ciphertext = fromBase64String(sealed.ciphertext);
  if (
    recipient?.length !== nacl.box.publicKeyLength ||
    ephemeralPublicKey?.length !== nacl.box.publicKeyLength ||
    nonce?.length !== nacl.box.nonceLength ||
    !ciphertext ||
    ciphertext.length < nacl.box.overheadLength
  ) {
    throw malformed("a field is missing or has the wrong length");
  }
  if (!bytesEqual(recipient, ownPublic)) {
    throw new SealedSecretsError(
      "sealed_secrets_wrong_builder",
      `these secrets were sealed for builder key ${builderKeyFingerprint(toBase64(recipient))}, ` +
        `not this builder's key ${builderKeyFingerprint(toBase64(ownPublic))}`,
    );
  }
  const plaintext = nacl.box.open(ciphertext, nonce, ephemeralPublicKey, secretKey);
  if (!plaintext) {
    throw new SealedSecretsError(
      "sealed_secrets_corrupt",
      "sealed secrets do not authenticate with this builder's key: the payload was altered or sealed to another key",
    );
  }
  let inner: unknown;
  try {
    inner = JSON.parse(fromUtf8(plaintext));
  } catch {
    throw malformed("the sealed content is not JSON");
  } finally {
    plaintext.fill(0);
  }
  const { keys, context: sealedContext, secrets } = (inner ?? {}) as Record<string, unknown>;
  if (typeof sealedContext !== "string" || !isStringRecord(secrets))
    throw malformed("unexpected sealed content");
  if (keys !== `${sealed.ephemeralPublicKey}:${sealed.recipient}`) {
    throw new SealedSecretsError(
      "sealed_secrets_corrupt",
      "sealed secrets do not match their own envelope: the ephemeral or recipient key was altered",
    );
  }
  if (sealedContext !== context) {
    throw new SealedSecretsError(
      "sealed_secrets_misplaced",
      `sealed secrets belong to ${JSON.stringify(sealedContext)}, not ${JSON.stringify(context)}; refusing them`,
    );
  }
  return secrets;
}

function decodeKey(b64: string, what: string): Uint8Array {
  const bytes = fromBase64String(b64);
  if (bytes?.length !== nacl.box.publicKeyLength) {
    throw new SealedSecretsError(
      "builder_key_invalid",
      `${what} must be ${nacl.box.publicKeyLength} bytes in base64`,
      400,
    );
  }
  return bytes;
}

function fromBase64String(value: unknown): Uint8Array | null {
  return typeof value === "string" ? fromBase64(value) : null;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    value !== null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string")
  );
}

function malformed(why: string): SealedSecretsError {
  return new SealedSecretsError("sealed_secrets_malformed", `sealed secrets are malformed: ${why}`);
}
