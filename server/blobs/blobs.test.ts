// Both blob-store adapters pass the same contract: the filesystem one on a temp dir, the S3 one
// against s3rver on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startS3rver, type TestS3 } from "../../tests/support/s3rver.ts";
import { createFsBlobStore } from "./fs.ts";
import { blobStoreFor } from "./index.ts";
import type { BlobStore } from "./types.ts";

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3rver();
});
afterAll(() => s3.stop());

const adapters: [string, () => BlobStore][] = [
  ["fs", () => createFsBlobStore(mkdtempSync(join(tmpdir(), "cairn-blobs-")))],
  // As the server makes it: the S3 client loaded on first use, behind the same contract.
  [
    "s3",
    () =>
      blobStoreFor("", {
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        prefix: `run-${crypto.randomUUID()}/`,
      }),
  ],
];

const read2 = async (store: BlobStore, key: string, start: number) =>
  new Uint8Array(await new Response(await store.stream(key, { start })).arrayBuffer());

describe.each(adapters)("%s blob store", (_name, make) => {
  test("put, get, stream, has, list, delete", async () => {
    const store = make();
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
    await store.put("logs/job-1.ndjson", bytes);
    await store.put("logs/job-2.ndjson", "two");
    await store.put("caches/p/key", "c");
    expect(await store.get("logs/job-1.ndjson")).toEqual(bytes);
    expect(new Uint8Array(await new Response(await store.stream("logs/job-1.ndjson")).arrayBuffer())).toEqual(
      bytes,
    );
    expect(await store.has("logs/job-2.ndjson")).toBe(true);
    expect(await store.list("logs/")).toEqual(["logs/job-1.ndjson", "logs/job-2.ndjson"]);
    await store.delete("logs/job-2.ndjson");
    expect(await store.has("logs/job-2.ndjson")).toBe(false);
    expect(await store.get("logs/job-2.ndjson")).toBeNull();
    expect(await store.stream("nope")).toBeNull();
  });

  test("streams ranges, and stores a stream in bounded parts", async () => {
    const store = make();
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
    await store.put("logs/r", bytes);
    const read = async (start: number, end?: number) =>
      new Uint8Array(await new Response(await store.stream("logs/r", { start, end })).arrayBuffer());
    expect(await read(1000, 1010)).toEqual(bytes.subarray(1000, 1010));
    expect(await read(299_990)).toEqual(bytes.subarray(299_990));
    expect(await read(5, 5)).toEqual(new Uint8Array(0));
    expect(await store.stream("nope", { start: 1 })).toBeNull();

    // 20 MiB in 64 KiB pieces: more than two S3 parts.
    const piece = new Uint8Array(64 * 1024).map((_, i) => i % 253);
    const count = 320;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < count) c.enqueue(piece);
        else c.close();
      },
    });
    expect(await store.putStream("logs/big", body, 64 * 1024 * 1024)).toBe(count * piece.length);
    expect(await read2(store, "logs/big", 20 * 1024 * 1024 - 3)).toEqual(piece.subarray(piece.length - 3));
    const whole = await store.get("logs/big");
    expect(whole?.length).toBe(count * piece.length);
    expect(whole?.subarray(9 * 1024 * 1024, 9 * 1024 * 1024 + 100)).toEqual(piece.subarray(0, 100));

    const tooBig = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(piece);
      },
    });
    await expect(store.putStream("logs/huge", tooBig, 1024 * 1024)).rejects.toThrow(/larger than/);
    expect(await store.has("logs/huge")).toBe(false);
  });

  test("refuses keys that escape the store", async () => {
    const store = make();
    await expect(store.put("../etc/passwd", "x")).rejects.toThrow(/invalid blob key/);
    await expect(store.get("/abs")).rejects.toThrow(/invalid blob key/);
  });
});
