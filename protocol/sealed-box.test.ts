import { describe, expect, test } from "bun:test";
import { fromBase64, toBase64 } from "./encoding.ts";
import { SealedSecretsError } from "./errors.ts";
import {
  builderKeyFingerprint,
  generateBuilderKeyPair,
  openSealedSecrets,
  type SealedSecrets,
  sealForBuilder,
} from "./sealed-box.ts";

const SECRETS = {
  DEPLOY_TOKEN: "tok-3f9a8b7c6d5e",
  AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG",
  EMPTY: "",
};

function expectSealedError(fn: () => unknown, code: string): SealedSecretsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SealedSecretsError);
    expect((err as SealedSecretsError).code).toBe(code);
    return err as SealedSecretsError;
  }
  throw new Error(`expected ${code}`);
}

describe("builder key pairs", () => {
  test("are 32-byte base64 keys, different every time", () => {
    const a = generateBuilderKeyPair();
    const b = generateBuilderKeyPair();
    for (const k of [a.publicKey, a.secretKey]) expect(fromBase64(k)?.length).toBe(32);
    expect(a.publicKey).not.toBe(b.publicKey);
    expect(a.secretKey).not.toBe(a.publicKey);
    expect(builderKeyFingerprint(a.publicKey)).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe("sealed secrets", () => {
  test("open with the right builder key, in the right job", () => {
    const builder = generateBuilderKeyPair();
    const sealed = sealForBuilder(builder.publicKey, SECRETS, "job:42");
    expect(openSealedSecrets(sealed, builder.secretKey, "job:42")).toEqual(SECRETS);
  });

  test("a payload intercepted on the wire reveals no value", () => {
    const builder = generateBuilderKeyPair();
    const wire = JSON.stringify(sealForBuilder(builder.publicKey, SECRETS, "job:42"));
    for (const value of Object.values(SECRETS).filter(Boolean)) {
      expect(wire).not.toContain(value);
      expect(wire).not.toContain(btoa(value));
    }
    expect(wire).not.toContain("DEPLOY_TOKEN"); // names are sealed too
  });

  test("a fresh ephemeral key and nonce per payload", () => {
    const builder = generateBuilderKeyPair();
    const a = sealForBuilder(builder.publicKey, SECRETS);
    const b = sealForBuilder(builder.publicKey, SECRETS);
    expect(a.ephemeralPublicKey).not.toBe(b.ephemeralPublicKey);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  test("a different builder's key cannot open it", () => {
    const builder = generateBuilderKeyPair();
    const other = generateBuilderKeyPair();
    const sealed = sealForBuilder(builder.publicKey, SECRETS);
    const err = expectSealedError(
      () => openSealedSecrets(sealed, other.secretKey),
      "sealed_secrets_wrong_builder",
    );
    expect(err.message).toContain(builderKeyFingerprint(builder.publicKey));
    expect(err.message).toContain(builderKeyFingerprint(other.publicKey));
    // Even if the recipient field is rewritten to the other builder, authentication fails.
    const relabelled: SealedSecrets = { ...sealed, recipient: other.publicKey };
    expectSealedError(() => openSealedSecrets(relabelled, other.secretKey), "sealed_secrets_corrupt");
  });

  test("the ephemeral secret key is not recoverable from the payload: the sender cannot open it either", () => {
    const builder = generateBuilderKeyPair();
    const sealed = sealForBuilder(builder.publicKey, SECRETS);
    // Opening with the ephemeral *public* key as if it were a secret key must fail.
    expect(() => openSealedSecrets(sealed, sealed.ephemeralPublicKey)).toThrow(SealedSecretsError);
  });

  test("any flipped byte is refused", () => {
    const builder = generateBuilderKeyPair();
    const sealed = sealForBuilder(builder.publicKey, { A: "value" }, "job:1");
    for (const field of ["ephemeralPublicKey", "nonce", "ciphertext"] as const) {
      const bytes = fromBase64(sealed[field])!;
      for (let at = 0; at < bytes.length; at++) {
        const copy = Uint8Array.from(bytes);
        copy[at] ^= 0x80; // at byte 31 of the ephemeral key, X25519 itself would ignore this bit
        const tampered = { ...sealed, [field]: toBase64(copy) };
        expectSealedError(
          () => openSealedSecrets(tampered, builder.secretKey, "job:1"),
          "sealed_secrets_corrupt",
        );
      }
    }
  });

  test("a payload replayed into another job is refused", () => {
    const builder = generateBuilderKeyPair();
    const sealed = sealForBuilder(builder.publicKey, SECRETS, "job:1");
    const err = expectSealedError(
      () => openSealedSecrets(sealed, builder.secretKey, "job:2"),
      "sealed_secrets_misplaced",
    );
    expect(err.message).not.toContain(SECRETS.DEPLOY_TOKEN);
  });

  test("malformed payloads and keys give clear errors", () => {
    const builder = generateBuilderKeyPair();
    const sealed = sealForBuilder(builder.publicKey, SECRETS);
    expectSealedError(() => sealForBuilder("short", SECRETS), "builder_key_invalid");
    expectSealedError(() => openSealedSecrets(sealed, "AAAA"), "builder_key_invalid");
    expectSealedError(
      () => openSealedSecrets({ ...sealed, version: 2 as 1 }, builder.secretKey),
      "sealed_secrets_malformed",
    );
    expectSealedError(
      () => openSealedSecrets({ ...sealed, nonce: "AAAA" }, builder.secretKey),
      "sealed_secrets_malformed",
    );
    expectSealedError(
      () => openSealedSecrets(null as unknown as SealedSecrets, builder.secretKey),
      "sealed_secrets_malformed",
    );
    expectSealedError(
      () => sealForBuilder(builder.publicKey, { A: 1 as unknown as string }),
      "sealed_secrets_invalid",
    );
  });
});
