import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmod, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toBase64 } from "../../protocol/encoding.ts";
import { open, seal } from "./envelope.ts";
import { MasterKeyError } from "./errors.ts";
import {
  generateMasterKey,
  loadOrCreateMasterKey,
  masterKeyPaths,
  retirePreviousKeyFile,
  rotateKeyFiles,
} from "./master-key.ts";

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "cairn-secrets-"));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function expectMasterKeyError(promise: Promise<unknown>, code: string): Promise<MasterKeyError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(MasterKeyError);
    expect((err as MasterKeyError).code).toBe(code);
    return err as MasterKeyError;
  }
  throw new Error(`expected ${code}`);
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe("key file", () => {
  test("is created on first start, 0600, and reused after", async () => {
    const dir = join(dataDir, "nested", "data");
    const first = await loadOrCreateMasterKey({ dataDir: dir, env: {} });
    const { current } = masterKeyPaths(dir);
    expect(first.source).toBe("created");
    expect(first.path).toBe(current);
    expect(await mode(current)).toBe(0o600);
    expect((await readFile(current, "utf8")).trim()).toBe(toBase64(first.current.bytes));
    expect(first.current.id).toMatch(/^[0-9a-f]{8}$/);
    expect(first.previous).toEqual([]);

    const second = await loadOrCreateMasterKey({ dataDir: dir, env: {} });
    expect(second.source).toBe("file");
    expect(second.current.id).toBe(first.current.id);
  });

  test("key id is the first 8 hex chars of SHA-256 of the key", async () => {
    const bytes = new Uint8Array(32).fill(7);
    const ring = await loadOrCreateMasterKey({ dataDir, env: { CAIRN_MASTER_KEY: toBase64(bytes) } });
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    expect(ring.current.id).toBe(hex.slice(0, 8));
  });

  test("concurrent first starts agree on one key and leave no temp files", async () => {
    const rings = await Promise.all(
      Array.from({ length: 8 }, () => loadOrCreateMasterKey({ dataDir, env: {} })),
    );
    expect(new Set(rings.map((r) => r.current.id)).size).toBe(1);
    const { readdir } = await import("node:fs/promises");
    expect(await readdir(dataDir)).toEqual(["master.key"]);
  });

  test("a 0644 key file is refused, and the message says how to fix it", async () => {
    await loadOrCreateMasterKey({ dataDir, env: {} });
    const { current } = masterKeyPaths(dataDir);
    for (const m of [0o644, 0o640, 0o604, 0o660, 0o606]) {
      await chmod(current, m);
      const err = await expectMasterKeyError(
        loadOrCreateMasterKey({ dataDir, env: {} }),
        "master_key_insecure",
      );
      expect(err.message).toContain(`chmod 600 ${current}`);
      expect(err.message).toContain(m.toString(8));
    }
    await chmod(current, 0o400); // stricter than 0600 is fine
    expect((await loadOrCreateMasterKey({ dataDir, env: {} })).source).toBe("file");
  });

  test("an insecure previous key file is refused too", async () => {
    await loadOrCreateMasterKey({ dataDir, env: {} });
    const { previous } = masterKeyPaths(dataDir);
    await writeFile(previous, toBase64(generateMasterKey()), { mode: 0o644 });
    await chmod(previous, 0o644);
    const err = await expectMasterKeyError(
      loadOrCreateMasterKey({ dataDir, env: {} }),
      "master_key_insecure",
    );
    expect(err.message).toContain(`chmod 600 ${previous}`);
  });

  test("a symlinked or malformed key file is refused", async () => {
    const elsewhere = join(dataDir, "elsewhere.key");
    await writeFile(elsewhere, toBase64(generateMasterKey()), { mode: 0o600 });
    await symlink(elsewhere, masterKeyPaths(dataDir).current);
    await expectMasterKeyError(loadOrCreateMasterKey({ dataDir, env: {} }), "master_key_insecure");
    await rm(masterKeyPaths(dataDir).current);
    await writeFile(masterKeyPaths(dataDir).current, "not a key\n", { mode: 0o600 });
    await expectMasterKeyError(loadOrCreateMasterKey({ dataDir, env: {} }), "master_key_invalid");
  });
});

describe("CAIRN_MASTER_KEY", () => {
  test("is used instead of the key file, which is then not created", async () => {
    const bytes = generateMasterKey();
    const ring = await loadOrCreateMasterKey({ dataDir, env: { CAIRN_MASTER_KEY: toBase64(bytes) } });
    expect(ring.source).toBe("env");
    expect(ring.current.bytes).toEqual(bytes);
    expect(stat(masterKeyPaths(dataDir).current)).rejects.toThrow();
  });

  test("a wrong length or format is rejected with a clear error that never echoes the value", async () => {
    const cases: [string, RegExp][] = [
      [toBase64(new Uint8Array(16)), /decodes to 16 bytes.*exactly 32 bytes/],
      [toBase64(new Uint8Array(33)), /decodes to 33 bytes/],
      ["not-base64-at-all!", /not valid base64/],
      [`${toBase64(generateMasterKey()).slice(0, 42)}B=`, /not valid base64/], // non-zero padding bits
      [`${toBase64(generateMasterKey()).slice(0, -1)}`, /not valid base64/],
      ["   ", /set but empty/],
    ];
    for (const [value, message] of cases) {
      const err = await expectMasterKeyError(
        loadOrCreateMasterKey({ dataDir, env: { CAIRN_MASTER_KEY: value } }),
        "master_key_invalid",
      );
      expect(err.message).toMatch(message);
      expect(err.message).toContain("CAIRN_MASTER_KEY");
      if (value.trim()) expect(err.message).not.toContain(value);
    }
  });

  test("CAIRN_MASTER_KEY_PREVIOUS joins the keyring as a previous key", async () => {
    const old = generateMasterKey();
    const oldRing = await loadOrCreateMasterKey({ dataDir, env: { CAIRN_MASTER_KEY: toBase64(old) } });
    const sealed = seal(oldRing, "value", "row");
    const ring = await loadOrCreateMasterKey({
      dataDir,
      env: { CAIRN_MASTER_KEY: toBase64(generateMasterKey()), CAIRN_MASTER_KEY_PREVIOUS: toBase64(old) },
    });
    expect(ring.previous.map((k) => k.id)).toEqual([oldRing.current.id]);
    expect(open(ring, sealed, "row")).toBe("value");
  });

  test("keys never appear in JSON or string output", async () => {
    const ring = await loadOrCreateMasterKey({ dataDir, env: {} });
    const b64 = toBase64(ring.current.bytes);
    expect(JSON.stringify(ring)).not.toContain(b64);
    expect(JSON.stringify(ring)).toContain(ring.current.id);
    expect(String(ring.current)).toBe(`MasterKey(${ring.current.id})`);
    expect(Bun.inspect(ring.current)).toBe(`MasterKey(${ring.current.id})`);
  });
});

describe("rotateKeyFiles", () => {
  test("moves master.key to master.key.previous and writes a fresh 0600 master.key", async () => {
    const before = await loadOrCreateMasterKey({ dataDir, env: {} });
    const sealed = seal(before, "value", "row");
    const after = await rotateKeyFiles(dataDir);
    const paths = masterKeyPaths(dataDir);
    expect(after.current.id).not.toBe(before.current.id);
    expect(after.previous.map((k) => k.id)).toEqual([before.current.id]);
    expect(await mode(paths.current)).toBe(0o600);
    expect(await mode(paths.previous)).toBe(0o600);
    expect(open(after, sealed, "row")).toBe("value");
    // A restart mid-rotation loads both keys.
    const restarted = await loadOrCreateMasterKey({ dataDir, env: {} });
    expect(restarted.current.id).toBe(after.current.id);
    expect(restarted.previous.map((k) => k.id)).toEqual([before.current.id]);
  });

  test("refuses to rotate again before the previous key is retired", async () => {
    await loadOrCreateMasterKey({ dataDir, env: {} });
    const first = await rotateKeyFiles(dataDir);
    const err = await expectMasterKeyError(rotateKeyFiles(dataDir), "master_key_rotation_pending");
    expect(err.message).toContain(masterKeyPaths(dataDir).previous);
    expect(await retirePreviousKeyFile(dataDir)).toBe(true);
    expect(await retirePreviousKeyFile(dataDir)).toBe(false);
    const second = await rotateKeyFiles(dataDir);
    expect(second.previous.map((k) => k.id)).toEqual([first.current.id]);
  });

  test("finishes a rotation that crashed after keeping the old key", async () => {
    const before = await loadOrCreateMasterKey({ dataDir, env: {} });
    const paths = masterKeyPaths(dataDir);
    await writeFile(paths.previous, await readFile(paths.current), { mode: 0o600 });
    const loaded = await loadOrCreateMasterKey({ dataDir, env: {} });
    expect(loaded.previous).toEqual([]); // same key twice is one key
    const after = await rotateKeyFiles(dataDir);
    expect(after.previous.map((k) => k.id)).toEqual([before.current.id]);
  });

  test("refuses when the key comes from the environment, or there is no key file", async () => {
    const err = await expectMasterKeyError(
      rotateKeyFiles(dataDir, { CAIRN_MASTER_KEY: toBase64(generateMasterKey()) }),
      "master_key_from_env",
    );
    expect(err.message).toContain("CAIRN_MASTER_KEY_PREVIOUS");
    await expectMasterKeyError(rotateKeyFiles(dataDir), "master_key_missing");
  });
});
