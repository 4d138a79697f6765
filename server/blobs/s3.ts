// Blob store on S3 or any S3-compatible endpoint (MinIO, s3rver), through @aws-sdk/client-s3.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { S3Options } from "./s3-options.ts";
import { type BlobStore, type ByteRange, checkKey } from "./types.ts";

export { type S3Options, s3OptionsFromEnv } from "./s3-options.ts";

/** Bytes per multipart part: S3's least is 5 MiB (but the last); one part is in memory at a time. */
export const S3_PART_BYTES = 8 * 1024 * 1024;

const notFound = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === "NoSuchKey" || e.name === "NotFound" || e.$metadata?.httpStatusCode === 404;
};

export function createS3BlobStore(opts: S3Options): BlobStore {
  const client = new S3Client({
    region: opts.region ?? "us-east-1",
    endpoint: opts.endpoint,
    forcePathStyle: opts.forcePathStyle ?? Boolean(opts.endpoint),
    credentials:
      opts.accessKeyId && opts.secretAccessKey
        ? { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey }
        : undefined,
  });
  const prefix = opts.prefix ?? "";
  const Bucket = opts.bucket;
  const Key = (key: string) => prefix + checkKey(key);

  const getStream = async (key: string, range?: ByteRange) => {
    if (range?.end !== undefined && range.end <= range.start)
      return (await store.has(key)) ? new Response("").body! : null;
    const Range = range ? `bytes=${range.start}-${range.end === undefined ? "" : range.end - 1}` : undefined;
    try {
      const r = await client.send(new GetObjectCommand({ Bucket, Key: Key(key), Range }));
      return r.Body?.transformToWebStream() ?? null;
    } catch (err) {
      if (notFound(err)) return null;
      throw err;
    }
  };

  /** A multipart upload, part by part as the stream yields them; aborted (nothing stored) on failure. */
  const putStream = async (
    key: string,
    body: ReadableStream<Uint8Array>,
    maxBytes: number,
    ContentType?: string,
  ): Promise<number> => {
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket, Key: Key(key), ContentType }),
    );
    const parts: { ETag?: string; PartNumber: number }[] = [];
    let part = new Uint8Array(S3_PART_BYTES);
    let filled = 0;
    let size = 0;
    const sendPart = async () => {
      const PartNumber = parts.length + 1;
      const r = await client.send(
        new UploadPartCommand({
          Bucket,
          Key: Key(key),
          UploadId,
          PartNumber,
          Body: part.subarray(0, filled),
        }),
      );
      parts.push({ ETag: r.ETag, PartNumber });
      filled = 0;
    };
    try {
      const reader = body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > maxBytes) {
          await reader.cancel();
          throw new Error(`the upload is larger than ${maxBytes} bytes`);
        }
        for (let at = 0; at < value.length; ) {
          const n = Math.min(value.length - at, part.length - filled);
          part.set(value.subarray(at, at + n), filled);
          filled += n;
          at += n;
          if (filled === part.length) await sendPart();
        }
      }
      if (filled > 0 || parts.length === 0) await sendPart();
      part = new Uint8Array(0);
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key: Key(key),
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
      return size;
    } catch (err) {
      await client.send(new AbortMultipartUploadCommand({ Bucket, Key: Key(key), UploadId })).catch(() => {});
      throw err;
    }
  };

  const store: BlobStore = {
    kind: "s3",
    async put(key, body, contentType) {
      await client.send(
        new PutObjectCommand({ Bucket, Key: Key(key), Body: body, ContentType: contentType }),
      );
    },
    async get(key) {
      const stream = await getStream(key);
      if (!stream) return null;
      return new Uint8Array(await new Response(stream).arrayBuffer());
    },
    stream: getStream,
    putStream,
    async has(key) {
      try {
        await client.send(new HeadObjectCommand({ Bucket, Key: Key(key) }));
        return true;
      } catch (err) {
        if (notFound(err)) return false;
        throw err;
      }
    },
    presign(key, method, expiresIn) {
      const command =
        method === "PUT"
          ? new PutObjectCommand({ Bucket, Key: Key(key) })
          : new GetObjectCommand({ Bucket, Key: Key(key) });
      return getSignedUrl(client, command, { expiresIn });
    },
    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket, Key: Key(key) }));
    },
    async list(p) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const r = await client.send(
          new ListObjectsV2Command({ Bucket, Prefix: prefix + p, ContinuationToken: token }),
        );
        for (const o of r.Contents ?? []) if (o.Key) keys.push(o.Key.slice(prefix.length));
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },
  };
  return store;
}
