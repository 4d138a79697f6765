// The blob store port: archived logs, caches, artifacts and workspaces. Two adapters: the local
// filesystem (default) and S3 (`@aws-sdk/client-s3`, any S3-compatible endpoint).

export interface BlobStore {
  readonly kind: "fs" | "s3";
  put(key: string, body: Uint8Array | string, contentType?: string): Promise<void>;
  /** The object's bytes, or null when there is none. */
  get(key: string): Promise<Uint8Array | null>;
  /**
   * The object as a stream, or null when there is none (large artifacts and archived logs, never
   * fully in memory); with `range`, only bytes [start, end) (end: the object's end).
   */
  stream(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array> | null>;
  has(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Keys under `prefix`, in lexical order. */
  list(prefix: string): Promise<string[]>;
  /**
   * Stores a stream without holding it in memory (the fs store as a file stream, S3 as a multipart
   * upload of bounded parts); returns the bytes written. Fails, storing nothing, past `maxBytes`.
   */
  putStream(
    key: string,
    body: ReadableStream<Uint8Array>,
    maxBytes: number,
    contentType?: string,
  ): Promise<number>;
  /** A presigned URL for one key and one method, valid `expiresIn` seconds (S3 only): builders hold no credentials. */
  presign?(key: string, method: "GET" | "PUT", expiresIn: number): Promise<string>;
}

/** Bytes [start, end) of an object; no `end`: to the object's end. */
export interface ByteRange {
  start: number;
  end?: number;
}

/** Keys are slash-separated names of [A-Za-z0-9._-] parts: no `..`, no absolute paths. */
export function checkKey(key: string): string {
  if (
    !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(key) ||
    key.split("/").some((p) => p === "." || p === "..")
  ) {
    throw new Error(`invalid blob key ${JSON.stringify(key)}`);
  }
  return key;
}
