// Where the master key comes from: CAIRN_MASTER_KEY, else <dataDir>/master.key (created on first start),
// plus the previous key (CAIRN_MASTER_KEY_PREVIOUS and/or master.key.previous) while a rotation runs.
import { join } from "node:path";
import { bytesEqual, randomBytes } from "../../protocol/encoding.ts";
import { MasterKeyError } from "./errors.ts";
import {
  createKeyFile,
  ensureDataDir,
  linkKeyFile,
  readKeyFile,
  removeKeyFile,
  replaceKeyFile,
} from "./key-file.ts";
import { createKeyring, type Keyring, MASTER_KEY_BYTES, parseMasterKey } from "./keyring.ts";

export const MASTER_KEY_ENV = "CAIRN_MASTER_KEY";
export const MASTER_KEY_PREVIOUS_ENV = "CAIRN_MASTER_KEY_PREVIOUS";
export const MASTER_KEY_FILE = "master.key";
export const MASTER_KEY_PREVIOUS_FILE = "master.key.previous";

export type Env = Readonly<Record<string, string | undefined>>;

export interface MasterKeyOptions {
  /** The server's data directory; holds master.key unless CAIRN_MASTER_KEY is set. */
  dataDir: string;
  /** The process environment (passed in, never read from a global). */
  env?: Env;
}

/** A keyring plus where its current key came from, for the startup log (never the key itself). */
export interface LoadedKeyring extends Keyring {
  /** "env": CAIRN_MASTER_KEY; "file": an existing master.key; "created": master.key was just generated. */
  readonly source: "env" | "file" | "created";
  /** The key file's path when source is "file" or "created". */
  readonly path?: string;
}

export function masterKeyPaths(dataDir: string): { current: string; previous: string } {
  return { current: join(dataDir, MASTER_KEY_FILE), previous: join(dataDir, MASTER_KEY_PREVIOUS_FILE) };
}

/** 32 fresh random bytes from crypto.getRandomValues. */
export function generateMasterKey(): Uint8Array {
  return randomBytes(MASTER_KEY_BYTES);
}

/**
 * Loads the master keyring, creating `<dataDir>/master.key` (0600, atomically) on first start.
 * Throws MasterKeyError (`master_key_invalid`, `master_key_insecure`, `master_key_unreadable`) when
 * the server must not start; the message says what to fix.
 */
export async function loadOrCreateMasterKey({ dataDir, env = {} }: MasterKeyOptions): Promise<LoadedKeyring> {
  const paths = masterKeyPaths(dataDir);
  const previous: Uint8Array[] = [];
  const fromEnvPrevious = envKey(env, MASTER_KEY_PREVIOUS_ENV);
  if (fromEnvPrevious) previous.push(fromEnvPrevious);
  const fromFilePrevious = await readKeyFile(paths.previous);
  if (fromFilePrevious) previous.push(fromFilePrevious);

  const fromEnv = envKey(env, MASTER_KEY_ENV);
  if (fromEnv) return { ...(await createKeyring(fromEnv, previous)), source: "env" };

  const existing = await readKeyFile(paths.current);
  if (existing) return { ...(await createKeyring(existing, previous)), source: "file", path: paths.current };

  await ensureDataDir(dataDir);
  const fresh = generateMasterKey();
  if (await createKeyFile(paths.current, fresh)) {
    return { ...(await createKeyring(fresh, previous)), source: "created", path: paths.current };
  }
  // Another process created it between our read and our create: use theirs.
  const theirs = await readKeyFile(paths.current);
  if (!theirs) throw new MasterKeyError("master_key_unreadable", `${paths.current} vanished while starting`);
  return { ...(await createKeyring(theirs, previous)), source: "file", path: paths.current };
}

/**
 * The file half of `cairn-server rotate-key`: master.key becomes master.key.previous and a fresh
 * master.key (0600) is written; returns the new keyring (new current key, old one as previous).
 * The caller then re-seals every value (rotation.ts) and, once none is left under the old key,
 * calls retirePreviousKeyFile. Refuses while an earlier rotation is unfinished, so no key is lost.
 */
export async function rotateKeyFiles(dataDir: string, env: Env = {}): Promise<LoadedKeyring> {
  if (env[MASTER_KEY_ENV] !== undefined) {
    throw new MasterKeyError(
      "master_key_from_env",
      `the master key comes from ${MASTER_KEY_ENV}, not a file: to rotate, set ${MASTER_KEY_PREVIOUS_ENV} ` +
        `to the current value and ${MASTER_KEY_ENV} to a new key (head -c 32 /dev/urandom | base64), ` +
        "restart, then re-seal",
    );
  }
  const paths = masterKeyPaths(dataDir);
  const current = await readKeyFile(paths.current);
  if (!current) {
    throw new MasterKeyError(
      "master_key_missing",
      `${paths.current} does not exist; there is no key to rotate`,
    );
  }
  const previous = await readKeyFile(paths.previous);
  if (previous && !bytesEqual(previous, current)) {
    throw new MasterKeyError(
      "master_key_rotation_pending",
      `${paths.previous} exists: an earlier rotation is unfinished. Re-seal every value under the current ` +
        `key first, then delete ${paths.previous}, before rotating again`,
    );
  }
  // previous === current means a rotation crashed after keeping the old key: just finish it.
  if (!previous && !(await linkKeyFile(paths.current, paths.previous))) {
    throw new MasterKeyError("master_key_rotation_pending", `${paths.previous} appeared during rotation`);
  }
  await replaceKeyFile(paths.current, generateMasterKey());
  return loadOrCreateMasterKey({ dataDir, env });
}

/** Deletes master.key.previous once nothing is sealed under it any more. True if a file was removed. */
export async function retirePreviousKeyFile(dataDir: string): Promise<boolean> {
  return removeKeyFile(masterKeyPaths(dataDir).previous);
}

function envKey(env: Env, name: string): Uint8Array | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  if (value.trim() === "") {
    // Set but empty is more likely a broken deployment than a request for the key file: say so.
    throw new MasterKeyError("master_key_invalid", `${name} is set but empty; set a key or unset it`);
  }
  return parseMasterKey(value, name);
}
