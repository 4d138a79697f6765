// A builder delivering a job's log is alive: over real HTTP, with no heartbeat at all, a job whose
// builder keeps uploading stays running past its lease TTL, while a job leased just after it whose
// builder went silent is lost and re-queued; a late upload to that lost job is refused and extends
// nothing. Proved by order, not by timings: the uploading job's lease would have run out first.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { ApiCallError } from "../builder/retryable.ts";
import { jobs } from "../server/db/schema.ts";
import { leaseTwoJobs } from "./support/builder-sim.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;
beforeAll(async () => {
  // A short TTL (the least the server accepts is 6 s) leaving an upload 6 s between two extensions
  // (a third of it apart) even on a loaded machine; the server sweeps leases every second.
  server = await startTestServer({ env: { CAIRN_LEASE_TTL_MS: "9000" } });
});
afterAll(() => server.stop());

const row = async (id: string) => (await server.deps.db.query.jobs.findFirst({ where: eq(jobs.id, id) }))!;

test("uploads keep a job's lease without heartbeats; a silent builder's job is lost; a late upload to it is refused", async () => {
  // Granted first, so its lease runs out no later than the silent one's, unless uploads extend it.
  const { builder, a: uploading, b: silent } = await leaseTwoJobs(server, "lease");
  expect((await row(uploading)).leaseExpiresAt!).toBeLessThanOrEqual((await row(silent)).leaseExpiresAt!);

  const enc = new TextEncoder();
  let offset = 0;
  let n = 0;
  // A safety net far past the TTL, not a measurement: the silent job is lost a few seconds in.
  const deadline = Date.now() + 120_000;
  while ((await row(silent)).status === "running") {
    if (Date.now() > deadline) throw new Error("the silent builder's job was never lost");
    const bytes = enc.encode(`line ${++n}\n`);
    const ack = await builder.log(uploading, offset, bytes);
    expect(ack).toEqual({ accepted: true, offset: offset + bytes.length });
    offset = ack.offset;
    await Bun.sleep(200);
  }
  const lost = await row(silent);
  expect(lost.status).toBe("lost");
  expect(lost.failureReason).toBe(
    "infrastructure failure: the builder stopped sending heartbeats; re-queued as attempt 2",
  );
  expect((await row(uploading)).status).toBe("running");

  // The builder no longer holds the lost job's lease: its upload is refused and changes nothing.
  const late = await builder.log(silent, 0, enc.encode("too late\n")).catch((err) => err);
  expect(late).toBeInstanceOf(ApiCallError);
  expect((late as ApiCallError).code).toBe("lease_lost");
  // (Its log's archive goes on in the background; the lease and the log's length are what matter.)
  const held = ({ status, builderId, leaseId, leaseExpiresAt, logBytes, logLines }: typeof lost) => ({
    status,
    builderId,
    leaseId,
    leaseExpiresAt,
    logBytes,
    logLines,
  });
  expect(held(await row(silent))).toEqual(held(lost));

  // The uploading job ends as any other: its whole log is there.
  await builder.finish(uploading, { status: "success", unsandboxed: true, log_bytes: offset });
  const done = await row(uploading);
  expect([done.status, done.logLines]).toEqual(["success", n]);
});
