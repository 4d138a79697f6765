import { join } from "node:path";
import { createFsBlobStore } from "./fs.ts";
import { createS3BlobStore, type S3Options } from "./s3.ts";
import type { BlobStore } from "./types.ts";

export type { BlobStore } from "./types.ts";

/** S3 when configured (CAIRN_S3_BUCKET), else the local folder `<data>/blobs`. */
export function blobStoreFor(dataDir: string, s3: S3Options | null): BlobStore {
  return s3 ? createS3BlobStore(s3) : createFsBlobStore(join(dataDir, "blobs"));
}
