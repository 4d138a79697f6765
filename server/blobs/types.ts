// The blob store port: archived logs, caches, artifacts and workspaces. Two adapters: the local
// filesystem (default) and S3 (`@aws-sdk/client-s3`, any S3-compatible endpoint).

export interface BlobStore {
  readonly kind: "fs" | "s3";
  put(key: string, body: Uint8Array | string, contentType?: string): Promise<void>;
  /** The object's bytes, or null when there is none. */
  get(key: string): Promise<Uint8Array | null>;
  /** The object as a stream, or null when there is none (large artifacts, never fully in memory). */
  stream(key: string): Promise<ReadableStream<Uint8Array> | null>;
  has(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Keys under `prefix`, in lexical order. */
  list(prefix: string): Promise<string[]>;
  /** Stores a stream without holding it in memory (the fs store's upload endpoint); returns the bytes written. */
  putStream?(key: string, body: ReadableStream<Uint8Array>, maxBytes: number): Promise<number>;
  /** A presigned URL for one key and one method, valid `expiresIn` seconds (S3 only): builders hold no credentials. */
  presign?(key: string, method: "GET" | "PUT", expiresIn: number): Promise<string>;
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
