// The log service on a real libSQL file: offset-addressed ingest, recovery in a fresh service
// (a restarted server) from the sealed raw segment, and archiving to both blob stores.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { startS3rver, type TestS3 } from "../../tests/support/s3rver.ts";
import { loadLogPipeline } from "../../wasm/index.ts";
import { createFsBlobStore } from "../blobs/fs.ts";
import { createS3BlobStore } from "../blobs/s3.ts";
import type { BlobStore } from "../blobs/types.ts";
import { jobs, logChunks, logRaw } from "../db/schema.ts";
import type { LogPipelineFactory, LogService } from "./service.ts";
import { logServiceFixture, seedJob } from "./testing.ts";

let factory: LogPipelineFactory;
let s3: TestS3;
const enc = new TextEncoder();

beforeAll(async () => {
  factory = await loadLogPipeline();
  s3 = await startS3rver();
});
afterAll(() => s3.stop());

const setup = (blobs: BlobStore, secrets: string[] = []) =>
  logServiceFixture({ factory, blobs: () => blobs, secrets });

const texts = async (svc: LogService, jobId: string, after = 0) =>
  (await svc.readLines(jobId, after)).map((l) => l.text);

describe("ingest", () => {
  test("offsets: resending is a no-op, a gap is refused with the expected offset", async () => {
    const { make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))));
    const svc = make();
    expect(await svc.append(jobId, 0, enc.encode("one\ntw"))).toEqual({ ok: true, offset: 6 });
    expect(await svc.append(jobId, 0, enc.encode("one\ntw"))).toEqual({ ok: true, offset: 6 });
    expect(await svc.append(jobId, 10, enc.encode("x"))).toEqual({ ok: false, offset: 6 });
    // An overlapping resend appends only the new tail.
    expect(await svc.append(jobId, 4, enc.encode("two\nthree\n"))).toEqual({ ok: true, offset: 14 });
    expect(await texts(svc, jobId)).toEqual(["one", "two", "three"]);
    expect((await svc.readLines(jobId, 1)).map((l) => l.n)).toEqual([2, 3]);
  });

  test("a restarted service rebuilds the pipeline from the sealed raw segment: nothing lost or doubled", async () => {
    const { db, make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))), [
      "hunter2-secret",
    ]);
    const input = "line 1\n\x1b[31mred\x1b[0m 2\npartial hunt";
    let svc = make();
    await svc.append(jobId, 0, enc.encode(input));
    // "Crash": a new service on the same database, the old one's memory gone.
    svc = make();
    await svc.append(jobId, input.length, enc.encode("er2-secret end\nlast\n"));
    await svc.endSegment(jobId);
    expect(await texts(svc, jobId)).toEqual(["line 1", "red 2", "partial ******** end", "last"]);
    // The segment ended: its sealed raw bytes are gone; none were ever stored in plaintext.
    expect(await db.select().from(logRaw)).toEqual([]);
  });

  test("raw bytes are stored sealed, never in plaintext", async () => {
    const { db, make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))), [
      "s3cr3t-value",
    ]);
    const svc = make();
    await svc.append(jobId, 0, enc.encode("token=s3cr3t-val"));
    const rows = await db.select().from(logRaw);
    expect(rows.length).toBe(1);
    expect(rows[0].envelope).not.toContain("s3cr3t");
    expect(JSON.stringify(await db.select().from(logChunks))).not.toContain("s3cr3t");
  });

  test("an upload applies only while its builder holds the lease, even from a stale copy of the row", async () => {
    const { db, make, jobId } = await setup(createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))));
    const other = await seedJob(db);
    await db.update(jobs).set({ builderId: "b1" }).where(eq(jobs.id, jobId));
    await db.update(jobs).set({ builderId: "b1" }).where(eq(jobs.id, other));
    const svc = make();
    // Two jobs in one group commit: one write refused must not take the other with it.
    const [a, b] = await Promise.all([
      svc.append(jobId, 0, enc.encode("one\n"), "b1"),
      svc.append(other, 0, enc.encode("uno\n"), "b1"),
    ]);
    expect([a, b]).toEqual([
      { ok: true, offset: 4 },
      { ok: true, offset: 4 },
    ]);
    await expect(svc.append(jobId, 4, enc.encode("x\n"), "b2")).rejects.toMatchObject({ code: "lease_lost" });
    // The lease moves behind the service's back (another server re-queued the job): its cached row
    // still names b1, and the conditional write refuses b1's upload, changing nothing.
    await db.update(jobs).set({ builderId: "b2" }).where(eq(jobs.id, jobId));
    const [stale, fine] = await Promise.allSettled([
      svc.append(jobId, 4, enc.encode("two\n"), "b1"),
      svc.append(other, 4, enc.encode("dos\n"), "b1"),
    ]);
    expect(stale.status).toBe("rejected");
    expect(fine).toEqual({ status: "fulfilled", value: { ok: true, offset: 8 } });
    expect(await texts(svc, jobId)).toEqual(["one"]);
    // Nor did it replace the job's resume point.
    expect((await db.select().from(logRaw).where(eq(logRaw.jobId, jobId))).map((r) => r.offset)).toEqual([4]);
    expect(await svc.append(jobId, 4, enc.encode("two\n"), "b2")).toEqual({ ok: true, offset: 8 });
    expect(await texts(svc, jobId)).toEqual(["one", "two"]);
    expect(await texts(svc, other)).toEqual(["uno", "dos"]);
    expect((await db.select().from(logRaw).where(eq(logRaw.jobId, jobId))).map((r) => r.offset)).toEqual([8]);
  });
});

describe.each([
  ["filesystem", () => createFsBlobStore(mkdtempSync(join(tmpdir(), "b-")))],
  [
    "S3 (s3rver)",
    () =>
      createS3BlobStore({
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        prefix: `${crypto.randomUUID()}/`,
      }),
  ],
] as const)("archive to the %s store", (_name, makeStore) => {
  test("reads the same before and after; the rows are gone", async () => {
    const blobs = makeStore();
    const { db, make, jobId } = await setup(blobs);
    const svc = make();
    const body = Array.from({ length: 2500 }, (_, i) => `\x1b[1mline\x1b[0m ${i}\n`).join("");
    for (let at = 0; at < body.length; at += 777)
      await svc.append(jobId, at, enc.encode(body.slice(at, at + 777)));
    const before = await svc.readLines(jobId, 0, 1_000_000);
    expect(before.length).toBe(2500);
    const page = await svc.readLines(jobId, 1200, 10);
    let ended: string | undefined;
    svc.hub.subscribe(jobId, {
      deliver: (e) => {
        if (e.kind === "end") ended = e.status;
      },
    });
    await svc.finish(jobId, "success");
    expect(ended).toBe("success");
    expect(await db.select().from(logChunks)).toEqual([]);
    expect(await blobs.has(`logs/${jobId}.ndjson`)).toBe(true);
    expect(await make().readLines(jobId, 0, 1_000_000)).toEqual(before);
    expect(await make().readLines(jobId, 1200, 10)).toEqual(page);
  });
});
