import { join } from "node:path";
import { createFsBlobStore } from "./fs.ts";
import type { S3Options } from "./s3-options.ts";
import type { BlobStore } from "./types.ts";

export type { BlobStore } from "./types.ts";

/** S3 when configured (CAIRN_S3_BUCKET), else the local folder `<data>/blobs`. */
export function blobStoreFor(dataDir: string, s3: S3Options | null): BlobStore {
  return s3 ? lazyS3BlobStore(s3) : createFsBlobStore(join(dataDir, "blobs"));
}

/**
 * The S3 store, its client loaded on first use: @aws-sdk/client-s3 is about 40 % of the server's
 * code, and evaluating it at start made every server pay for it, S3 or not (issue 19, start-up).
 */
export function lazyS3BlobStore(opts: S3Options): BlobStore {
  let loading: Promise<BlobStore> | undefined;
  const store = () => (loading ??= import("./s3.ts").then((m) => m.createS3BlobStore(opts)));
  return {
    kind: "s3",
    put: async (key, body, contentType) => (await store()).put(key, body, contentType),
    get: async (key) => (await store()).get(key),
    stream: async (key, range) => (await store()).stream(key, range),
    has: async (key) => (await store()).has(key),
    delete: async (key) => (await store()).delete(key),
    list: async (prefix) => (await store()).list(prefix),
    putStream: async (key, body, maxBytes, contentType) =>
      (await store()).putStream(key, body, maxBytes, contentType),
    presign: async (key, method, expiresIn) => {
      const s3 = await store();
      if (!s3.presign) throw new Error("the S3 blob store cannot presign");
      return s3.presign(key, method, expiresIn);
    },
  };
}
