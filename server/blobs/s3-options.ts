// Where the S3 blob store is (CAIRN_S3_*), apart from its client: the server reads its configuration at
// start without loading @aws-sdk/client-s3 (blobs/index.ts loads that on first use).

export interface S3Options {
  bucket: string;
  region?: string;
  endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`), needed by most self-hosted S3s. */
  forcePathStyle?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Key prefix inside the bucket, e.g. `cairn/`. */
  prefix?: string;
}

/** The S3 adapter from CAIRN_S3_* variables, or null when no bucket is configured. */
export function s3OptionsFromEnv(env: Record<string, string | undefined>): S3Options | null {
  if (!env.CAIRN_S3_BUCKET) return null;
  return {
    bucket: env.CAIRN_S3_BUCKET,
    region: env.CAIRN_S3_REGION,
    endpoint: env.CAIRN_S3_ENDPOINT,
    forcePathStyle: env.CAIRN_S3_PATH_STYLE ? env.CAIRN_S3_PATH_STYLE === "true" : undefined,
    accessKeyId: env.CAIRN_S3_ACCESS_KEY_ID,
    secretAccessKey: env.CAIRN_S3_SECRET_ACCESS_KEY,
    prefix: env.CAIRN_S3_PREFIX,
  };
}
