// Where a backup archive lives: a local file, or an S3 object (`s3://bucket/key`) written and read
// through the blob-store adapter with the CAIRN_S3_* endpoint and credentials.
import { createReadStream, createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { lazyS3BlobStore } from "../blobs/index.ts";
import { s3OptionsFromEnv } from "../blobs/s3-options.ts";
import type { BlobStore } from "../blobs/types.ts";

export interface S3Location {
  bucket: string;
  key: string;
}

export function parseS3Url(target: string): S3Location | null {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(target);
  if (!target.startsWith("s3://")) return null;
  if (!m) throw new Error(`${target}: an S3 location is s3://BUCKET/KEY`);
  return { bucket: m[1]!, key: m[2]! };
}

function storeFor(loc: S3Location, env: Record<string, string | undefined>): BlobStore {
  const opts = s3OptionsFromEnv({ ...env, CAIRN_S3_BUCKET: loc.bucket });
  return lazyS3BlobStore({ ...opts!, bucket: loc.bucket, prefix: "" });
}

/** The archive goes up as a multipart upload streamed from the file, so it never sits in memory. */
export async function uploadArchive(
  file: string,
  loc: S3Location,
  env: Record<string, string | undefined>,
): Promise<void> {
  const store = storeFor(loc, env);
  if (await store.has(loc.key))
    throw new Error(`s3://${loc.bucket}/${loc.key} exists; a backup never overwrites one`);
  const body = Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array>;
  await store.putStream(loc.key, body, Number.MAX_SAFE_INTEGER, "application/gzip");
}

/** Streams the object into `file` (0600), so a large archive never sits in memory. */
export async function downloadArchive(
  loc: S3Location,
  file: string,
  env: Record<string, string | undefined>,
): Promise<void> {
  const stream = await storeFor(loc, env).stream(loc.key);
  if (!stream) throw new Error(`s3://${loc.bucket}/${loc.key} does not exist`);
  const nodeStream = Readable.fromWeb(
    stream as unknown as import("node:stream/web").ReadableStream<Uint8Array>,
  );
  await pipeline(nodeStream, createWriteStream(file, { mode: 0o600 }));
}
