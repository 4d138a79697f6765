import { describe, expect, test } from "bun:test";
import { fromBase64, toBase64 } from "../../protocol/encoding.ts";
import { envelopeKeyId, isEnvelope, needsReseal, open, openBytes, seal } from "./envelope.ts";
import { SecretEnvelopeError } from "./errors.ts";
import { createKeyring, type Keyring } from "./keyring.ts";
import { generateMasterKey } from "./master-key.ts";

const ROW = "envvar:p1:DEPLOY_TOKEN";

function keyring(): Promise<Keyring> {
  return createKeyring(generateMasterKey());
}

function expectEnvelopeError(fn: () => unknown, code: string, row = ROW): SecretEnvelopeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SecretEnvelopeError);
    const e = err as SecretEnvelopeError;
    expect(e.code).toBe(code);
    expect(e.row).toBe(row);
    expect(e.message).toContain(row);
    return e;
  }
  throw new Error(`expected ${code}, but it opened`);
}

/** Flips one bit of the decoded field `index` (2 nonce, 3 ciphertext) and re-encodes it canonically. */
function flipByte(envelope: string, index: 2 | 3, at: number): string {
  const parts = envelope.split(":");
  const bytes = fromBase64(parts[index])!;
  bytes[at % bytes.length] ^= 0x01;
  parts[index] = toBase64(bytes);
  return parts.join(":");
}

describe("seal/open", () => {
  test("round-trips text and names the sealing key", async () => {
    const ring = await keyring();
    const env = seal(ring, "s3cr3t-välue ✓", ROW);
    expect(env).toMatch(/^v1:[0-9a-f]{8}:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(env.split(":")[1]).toBe(ring.current.id);
    expect(env).not.toContain("s3cr3t");
    expect(open(ring, env, ROW)).toBe("s3cr3t-välue ✓");
  });

  test("round-trips bytes and the empty value", async () => {
    const ring = await keyring();
    const bytes = new Uint8Array([0, 255, 1, 254]);
    expect(openBytes(ring, seal(ring, bytes, ROW), ROW)).toEqual(bytes);
    expect(open(ring, seal(ring, ""), "")).toBe("");
  });

  test("uses a fresh nonce every time", async () => {
    const ring = await keyring();
    const a = seal(ring, "same", ROW);
    const b = seal(ring, "same", ROW);
    expect(a.split(":")[2]).not.toBe(b.split(":")[2]);
    expect(a).not.toBe(b);
  });

  test("binary values refuse to open as text", async () => {
    const ring = await keyring();
    expectEnvelopeError(
      () => open(ring, seal(ring, new Uint8Array([0xff, 0xfe]), ROW), ROW),
      "secret_envelope_not_text",
    );
  });
});

describe("tampering is refused and names the row", () => {
  test("every single-byte flip of the nonce or ciphertext", async () => {
    const ring = await keyring();
    const env = seal(ring, "a value long enough to have many bytes", ROW);
    const cipherLength = fromBase64(env.split(":")[3])!.length;
    for (let at = 0; at < 24; at++) {
      expectEnvelopeError(() => open(ring, flipByte(env, 2, at), ROW), "secret_envelope_corrupt");
    }
    for (let at = 0; at < cipherLength; at++) {
      expectEnvelopeError(() => open(ring, flipByte(env, 3, at), ROW), "secret_envelope_corrupt");
    }
  });

  test("every single-character change of the envelope text", async () => {
    const ring = await keyring();
    const env = seal(ring, "value", ROW);
    for (let at = 0; at < env.length; at++) {
      const swapped = env[at] === "A" ? "B" : "A";
      const tampered = env.slice(0, at) + swapped + env.slice(at + 1);
      expect(() => open(ring, tampered, ROW)).toThrow(SecretEnvelopeError);
    }
  });

  test("a changed key id is an unknown key", async () => {
    const ring = await keyring();
    const env = seal(ring, "value", ROW);
    const parts = env.split(":");
    parts[1] = parts[1] === "00000000" ? "00000001" : "00000000";
    const err = expectEnvelopeError(() => open(ring, parts.join(":"), ROW), "secret_key_unknown");
    expect(err.message).toContain(parts[1]);
    expect(err.message).toContain(ring.current.id);
  });

  test("a key id pointing at another loaded key fails authentication", async () => {
    const old = generateMasterKey();
    const ring = await createKeyring(generateMasterKey(), [old]);
    const env = seal(ring, "value", ROW).split(":");
    env[1] = ring.previous[0].id;
    expectEnvelopeError(() => open(ring, env.join(":"), ROW), "secret_envelope_corrupt");
  });

  test("truncated, padded, reordered and foreign strings are malformed", async () => {
    const ring = await keyring();
    const env = seal(ring, "value", ROW);
    const [v, id, nonce, ct] = env.split(":");
    const bad = [
      "",
      "plaintext-value",
      `${v}:${id}:${nonce}`,
      `${env}:extra`,
      `${v}:${id}:${ct}:${nonce}`,
      `${v}:${id.toUpperCase()}:${nonce}:${ct}`,
      `${v}:${id}:${nonce}:${ct.slice(0, 8)}`,
      `${v}:${id}:${nonce.slice(4)}:${ct}`,
      `${v}:${id}:${nonce}:${ct}\n`,
      `${v}:${id}: ${nonce}:${ct}`,
    ];
    for (const b of bad) expectEnvelopeError(() => open(ring, b, ROW), "secret_envelope_malformed");
    expectEnvelopeError(() => open(ring, `v2:${id}:${nonce}:${ct}`, ROW), "secret_envelope_version");
    expect(isEnvelope(env)).toBe(true);
    expect(isEnvelope("plaintext")).toBe(false);
  });

  test("the row label, when given, is what errors name", async () => {
    const ring = await keyring();
    const err = expectEnvelopeError(
      () => open(ring, "junk", ROW, "envvar project=p1 name=X"),
      "secret_envelope_malformed",
      "envvar project=p1 name=X",
    );
    expect(err.details).toEqual({ row: "envvar project=p1 name=X" });
  });
});

describe("keys and rows", () => {
  test("a wrong key is refused, never returning garbage", async () => {
    // (A wrong key under a known id is covered above: "a key id pointing at another loaded key".)
    const ring = await keyring();
    const other = await keyring();
    const env = seal(ring, "value", ROW);
    expectEnvelopeError(() => open(other, env, ROW), "secret_key_unknown");
  });

  test("a ciphertext copied to another row is refused as misplaced", async () => {
    const ring = await keyring();
    const env = seal(ring, "value", "envvar:p1:A");
    expectEnvelopeError(() => open(ring, env, "envvar:p2:A"), "secret_envelope_misplaced", "envvar:p2:A");
    expect(() => open(ring, env)).toThrow(/sealed for a different row/);
  });

  test("values sealed under the previous key still open; needsReseal tells them apart", async () => {
    const oldKey = generateMasterKey();
    const before = await createKeyring(oldKey);
    const sealedBefore = seal(before, "value", ROW);
    const during = await createKeyring(generateMasterKey(), [oldKey]);
    expect(open(during, sealedBefore, ROW)).toBe("value");
    expect(needsReseal(during, sealedBefore)).toBe(true);
    const sealedDuring = seal(during, "value", ROW);
    expect(envelopeKeyId(sealedDuring)).toBe(during.current.id);
    expect(needsReseal(during, sealedDuring)).toBe(false);
    expect(() => needsReseal(during, "junk")).toThrow(SecretEnvelopeError);
  });

  test("errors never contain the key or the value", async () => {
    const ring = await keyring();
    const env = seal(ring, "hunter2-secret", ROW);
    const messages: string[] = [];
    for (const tampered of [flipByte(env, 3, 3), "junk", env.replace(ring.current.id, "00000000")]) {
      try {
        open(ring, tampered, ROW);
      } catch (err) {
        messages.push(`${(err as Error).message} ${JSON.stringify(err)}`);
      }
    }
    expect(messages).toHaveLength(3);
    for (const m of messages) {
      expect(m).not.toContain("hunter2");
      expect(m).not.toContain(toBase64(ring.current.bytes));
    }
  });
});
