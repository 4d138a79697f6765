// Blob store on the local filesystem: one file per key under a root directory, written atomically.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type BlobStore, checkKey } from "./types.ts";

export function createFsBlobStore(root: string): BlobStore {
  const pathOf = (key: string) => join(root, ...checkKey(key).split("/"));
  return {
    kind: "fs",
    async put(key, body) {
      const path = pathOf(key);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const tmp = `${path}.tmp-${crypto.randomUUID()}`;
      await writeFile(tmp, body, { mode: 0o600 });
      await rename(tmp, path);
    },
    async putStream(key, body, maxBytes) {
      // The content type is the S3 store's; a file has none.
      const path = pathOf(key);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const tmp = `${path}.tmp-${crypto.randomUUID()}`;
      let size = 0;
      const counted = Readable.fromWeb(
        body as unknown as import("node:stream/web").ReadableStream<Uint8Array>,
      ).map((chunk: Uint8Array) => {
        size += chunk.length;
        if (size > maxBytes) throw new Error(`the upload is larger than ${maxBytes} bytes`);
        return chunk;
      });
      try {
        await pipeline(counted, createWriteStream(tmp, { mode: 0o600 }));
        await rename(tmp, path);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      return size;
    },
    async get(key) {
      try {
        return new Uint8Array(await readFile(pathOf(key)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw err;
      }
    },
    async stream(key, range) {
      const path = pathOf(key);
      if (!(await this.has(key))) return null;
      if (range?.end !== undefined && range.end <= range.start) return new Response("").body!;
      // createReadStream's `end` is inclusive.
      const opts = range
        ? { start: range.start, end: range.end === undefined ? undefined : range.end - 1 }
        : {};
      return Readable.toWeb(createReadStream(path, opts)) as unknown as ReadableStream<Uint8Array>;
    },
    async has(key) {
      try {
        return (await stat(pathOf(key))).isFile();
      } catch {
        return false;
      }
    },
    async delete(key) {
      await rm(pathOf(key), { force: true });
    },
    async list(prefix) {
      const out: string[] = [];
      const walk = async (dir: string) => {
        let entries: import("node:fs").Dirent[];
        try {
          entries = await readdir(dir, { withFileTypes: true });
        } catch {
          return;
        }
        for (const e of entries) {
          const full = join(dir, e.name);
          if (e.isDirectory()) await walk(full);
          else if (!e.name.includes(".tmp-")) out.push(relative(root, full).split(sep).join("/"));
        }
      };
      await walk(root);
      return out.filter((k) => k.startsWith(prefix)).sort();
    },
  };
}
