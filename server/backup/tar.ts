// A minimal gzipped ustar writer and reader for backup archives: regular files only, streamed (a
// blob store of caches need not fit in memory), and readable by any `tar -tzf`.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, stat } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import { createGunzip, createGzip } from "node:zlib";

const BLOCK = 512;

function header(name: string, size: number, mode: number, mtime: Date): Uint8Array {
  // ustar's 11 octal digits: files of 8 GiB or more would need GNU/PAX extensions.
  if (size > 0o77777777777) throw new Error(`${name} is too large for a backup archive (8 GiB or more)`);
  const h = new Uint8Array(BLOCK);
  const enc = new TextEncoder();
  let prefix = "";
  let base = name;
  if (enc.encode(name).length > 100) {
    // ustar splits a long name at a slash: prefix (155) + name (100).
    const i = name.lastIndexOf("/");
    prefix = name.slice(0, i);
    base = name.slice(i + 1);
    if (enc.encode(base).length > 100 || enc.encode(prefix).length > 155)
      throw new Error(`name too long for a backup archive: ${name}`);
  }
  const put = (text: string, at: number, len: number) => h.set(enc.encode(text).subarray(0, len), at);
  const octal = (n: number, at: number, len: number) =>
    put(`${n.toString(8).padStart(len - 1, "0")}\0`, at, len);
  put(base, 0, 100);
  octal(mode & 0o7777, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(Math.floor(mtime.getTime() / 1000), 136, 12);
  put("        ", 148, 8);
  put("0", 156, 1);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  put(prefix, 345, 155);
  const sum = h.reduce((a, b) => a + b, 0);
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return h;
}

export interface TarWriter {
  /** Adds a file from disk under `name`. */
  addFile(name: string, path: string, mode?: number): Promise<void>;
  addBytes(name: string, bytes: Uint8Array, mode?: number): Promise<void>;
  close(): Promise<void>;
}

/** Writes a .tar.gz to `path` (created 0600: backups hold the master key). */
export async function createTarGz(path: string): Promise<TarWriter> {
  const gzip = createGzip();
  const out = createWriteStream(path, { mode: 0o600 });
  const done = new Promise<void>((resolve, reject) => {
    out.on("finish", resolve);
    out.on("error", reject);
    gzip.on("error", reject);
  });
  gzip.pipe(out);
  const write = (bytes: Uint8Array) =>
    new Promise<void>((resolve, reject) => gzip.write(bytes, (err) => (err ? reject(err) : resolve())));
  const pad = (size: number) =>
    size % BLOCK === 0 ? Promise.resolve() : write(new Uint8Array(BLOCK - (size % BLOCK)));
  return {
    async addFile(name, file, mode = 0o600) {
      const s = await stat(file);
      await write(header(name, s.size, mode, s.mtime));
      let written = 0;
      for await (const chunk of createReadStream(file)) {
        await write(chunk as Uint8Array);
        written += (chunk as Uint8Array).length;
      }
      if (written !== s.size) throw new Error(`${file} changed size while being archived`);
      await pad(s.size);
    },
    async addBytes(name, bytes, mode = 0o600) {
      await write(header(name, bytes.length, mode, new Date()));
      await write(bytes);
      await pad(bytes.length);
    },
    async close() {
      await write(new Uint8Array(BLOCK * 2));
      gzip.end();
      await done;
    },
  };
}

/** A safe relative name: no absolute paths, no `..`, so an archive cannot write outside `dir`. */
function safeName(name: string): string {
  const n = normalize(name);
  if (n.startsWith("/") || n === ".." || n.startsWith("../") || n.includes("/../"))
    throw new Error(`unsafe name in archive: ${name}`);
  return n;
}

/** Extracts every regular file of a .tar.gz into `dir` (0600 files, 0700 folders); returns their names. */
export async function extractTarGz(archive: string, dir: string): Promise<string[]> {
  const names: string[] = [];
  let buf = new Uint8Array(0);
  let file: { handle: Awaited<ReturnType<typeof open>>; left: number; padding: number } | null = null;
  let skip = 0;
  let ended = false;
  const dec = new TextDecoder();
  const str = (h: Uint8Array, at: number, len: number) =>
    dec.decode(h.subarray(at, at + len)).replace(/\0.*$/s, "");
  for await (const chunk of createReadStream(archive).pipe(createGunzip())) {
    const merged = new Uint8Array(buf.length + (chunk as Uint8Array).length);
    merged.set(buf);
    merged.set(chunk as Uint8Array, buf.length);
    buf = merged;
    while (!ended) {
      if (file) {
        const n = Math.min(file.left, buf.length);
        if (n > 0) await file.handle.write(buf.subarray(0, n));
        buf = buf.subarray(n);
        file.left -= n;
        if (file.left > 0) break;
        await file.handle.close();
        skip = file.padding;
        file = null;
      }
      if (skip > 0) {
        const n = Math.min(skip, buf.length);
        buf = buf.subarray(n);
        skip -= n;
        if (skip > 0) break;
      }
      if (buf.length < BLOCK) break;
      const h = buf.subarray(0, BLOCK);
      buf = buf.subarray(BLOCK);
      if (h.every((b) => b === 0)) {
        ended = true;
        break;
      }
      const size = Number.parseInt(str(h, 124, 12).trim() || "0", 8);
      const type = str(h, 156, 1) || "0";
      const prefix = str(h, 345, 155);
      const name = safeName(prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
      const padding = (BLOCK - (size % BLOCK)) % BLOCK;
      if (type !== "0") {
        skip = size + padding;
        continue;
      }
      const target = join(dir, name);
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      file = { handle: await open(target, "wx", 0o600), left: size, padding };
      names.push(name);
    }
  }
  if (file) throw new Error(`${archive} is truncated`);
  return names;
}
