// The master key file on disk: private (0600) reads and atomic writes. The only file-system code of the
// secrets layer; node:fs works on Bun, Node and Deno alike.
import { constants } from "node:fs";
import { link, mkdir, open, rename, unlink } from "node:fs/promises";
import { platform } from "node:os";
import { randomBytes, toBase64, toHex } from "../../protocol/encoding.ts";
import { MasterKeyError } from "./errors.ts";
import { parseMasterKey } from "./keyring.ts";

const PRIVATE_MODE = 0o600;
// POSIX permission bits are not meaningful on Windows; there the data directory's ACL is what protects it.
const CHECK_MODE = platform() !== "win32";

/** Reads a base64 key file, or null if it does not exist. Refuses files that group or others can use. */
export async function readKeyFile(path: string): Promise<Uint8Array | null> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    if (errno(err) === "ENOENT") return null;
    if (errno(err) === "ELOOP") {
      throw new MasterKeyError(
        "master_key_insecure",
        `${path} is a symbolic link; the master key must be a regular file`,
      );
    }
    throw new MasterKeyError("master_key_unreadable", `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    // fstat the open handle, so the file checked is the file read.
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new MasterKeyError("master_key_insecure", `${path} is not a regular file`);
    }
    if (CHECK_MODE && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(3, "0");
      throw new MasterKeyError(
        "master_key_insecure",
        `${path} has mode ${mode}: group or others can access the master key. ` +
          `Refusing to start. Fix it with: chmod 600 ${shellQuote(path)}`,
        500,
        { path, mode },
      );
    }
    return parseMasterKey(await handle.readFile("utf8"), path);
  } finally {
    await handle.close();
  }
}

/**
 * Creates `path` holding `bytes`, atomically and 0600, only if it does not exist yet.
 * Returns false when another process created it first (two servers starting on one data dir).
 */
export async function createKeyFile(path: string, bytes: Uint8Array): Promise<boolean> {
  const tmp = await writeTemp(path, bytes);
  try {
    await link(tmp, path); // unlike rename, link never replaces an existing file
    return true;
  } catch (err) {
    if (errno(err) === "EEXIST") return false;
    if (errno(err) === "EPERM" || errno(err) === "ENOTSUP" || errno(err) === "ENOSYS") {
      // File systems without hard links: fall back to an exclusive create, still never clobbering.
      return writeExclusive(path, bytes);
    }
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** Replaces `path` with `bytes` atomically (temp file + rename), 0600. */
export async function replaceKeyFile(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = await writeTemp(path, bytes);
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** Makes `to` a second name of `from`; false if `to` already exists. Used to keep the old key during rotation. */
export async function linkKeyFile(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (err) {
    if (errno(err) === "EEXIST") return false;
    if (errno(err) === "EPERM" || errno(err) === "ENOTSUP" || errno(err) === "ENOSYS") {
      const bytes = await readKeyFile(from);
      if (bytes === null) throw err;
      return writeExclusive(to, bytes);
    }
    throw err;
  }
}

export async function removeKeyFile(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (errno(err) === "ENOENT") return false;
    throw err;
  }
}

/** Creates the data directory (0700 when new) if needed. */
export async function ensureDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
}

async function writeTemp(path: string, bytes: Uint8Array): Promise<string> {
  const tmp = `${path}.tmp-${toHex(randomBytes(6))}`;
  if (!(await writeExclusive(tmp, bytes))) throw new Error(`temporary file ${tmp} already exists`);
  return tmp;
}

async function writeExclusive(path: string, bytes: Uint8Array): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // Created 0600 from the start: the key is never readable by others, not even for an instant.
    handle = await open(path, "wx", PRIVATE_MODE);
  } catch (err) {
    if (errno(err) === "EEXIST") return false;
    throw err;
  }
  try {
    await handle.chmod(PRIVATE_MODE); // a umask can only remove bits, but be explicit
    await handle.writeFile(`${toBase64(bytes)}\n`, "utf8");
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(path).catch(() => {});
    throw err;
  }
  await handle.close();
  return true;
}

function errno(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

function shellQuote(path: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}
