import { join } from "node:path";
import { createFsBlobStore } from "./fs.ts";
import { createS3BlobStore, s3OptionsFromEnv } from "./s3.ts";
import type { BlobStore } from "./types.ts";

export type { BlobStore } from "./types.ts";

/** S3 when CAIRN_S3_BUCKET is set, else the local folder `<data>/blobs`. */
export function blobStoreFromEnv(dataDir: string, env: Record<string, string | undefined>): BlobStore {
  const s3 = s3OptionsFromEnv(env);
  return s3 ? createS3BlobStore(s3) : createFsBlobStore(join(dataDir, "blobs"));
}
