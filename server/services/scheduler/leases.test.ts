// Leases on a real libSQL file with a clock the test moves: fair grants, one grant per job even
// between two server processes, heartbeats, lost jobs re-queued once away from their builder, and
// results only from the holder.
import { afterEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { builders, projects } from "../../db/schema.ts";
import { Scheduler } from "../scheduler.ts";
import { schedulerFixture } from "./testing.ts";

const TTL = 20_000;
let fx: Awaited<ReturnType<typeof schedulerFixture>>;
afterEach(() => fx.close());

/** A scheduler over the fixture's database, as one server process has. */
const scheduler = () =>
  new Scheduler({ db: fx.db, logs: fx.logs, events: fx.events, now: fx.clock.now, leaseTtlMs: TTL });

const done = { status: "success", unsandboxed: false, log_bytes: 0 } as const;

describe("grants", () => {
  test("the oldest runnable job first, fair between projects, within a project's concurrency limit", async () => {
    fx = await schedulerFixture();
    const s = scheduler();
    const a = await fx.workflow([{ name: "a1" }, { name: "a2" }, { name: "a3" }]);
    await fx.workflow([{ name: "b1" }]);
    await fx.db.update(projects).set({ maxConcurrentJobs: 1 }).where(eq(projects.id, a.projectId));
    const builder = await fx.builder();
    const names: string[] = [];
    for (let i = 0; i < 3; i++) names.push((await s.acquire(builder.id, 0))?.job.name ?? "none");
    // a1 (oldest), then b1 (its project runs nothing), then nothing: project a is at its limit.
    expect(names).toEqual(["a1", "b1", "none"]);
  });

  test("a job waiting on another, or for approval, is not granted; nor one whose resource class does not fit", async () => {
    fx = await schedulerFixture();
    const s = scheduler();
    await fx.workflow([
      { name: "big", resourceClass: "large" },
      { name: "after", requires: ["big"] },
      { name: "hold", type: "approval" },
    ]);
    const builder = await fx.builder();
    expect(await s.acquire(builder.id, 0, undefined, ["medium"])).toBeNull();
    expect((await s.acquire(builder.id, 0, undefined, ["medium", "large"]))?.job.name).toBe("big");
    expect(await s.acquire(builder.id, 0)).toBeNull();
  });

  test("two schedulers on one database (as two server processes have) racing for one job grant it once", async () => {
    fx = await schedulerFixture();
    const wf = await fx.workflow([{ name: "only" }]);
    const [one, two] = [scheduler(), scheduler()];
    const [b1, b2] = [await fx.builder(), await fx.builder()];
    const granted = await Promise.all([one.acquire(b1.id, 0), two.acquire(b2.id, 0)]);
    expect(granted.filter(Boolean).map((p) => p!.job.id)).toEqual([wf.job("only")]);
    const row = await fx.jobRow(wf.job("only"));
    expect(row.builderId).toBe(granted[0] ? b1.id : b2.id);
  });

  test("a builder waiting in acquire gets work queued meanwhile", async () => {
    fx = await schedulerFixture();
    const s = scheduler();
    const builder = await fx.builder();
    const waiting = s.acquire(builder.id, 60_000);
    await fx.workflow([{ name: "late" }]);
    s.notify();
    expect((await waiting)?.job.name).toBe("late");
  });
});

describe("heartbeats and lost jobs", () => {
  test("a heartbeat keeps the lease; a user's cancel reaches the builder at its next one; others are told it is gone", async () => {
    fx = await schedulerFixture();
    const s = scheduler();
    const wf = await fx.workflow([{ name: "j" }]);
    const [holder, other] = [await fx.builder(), await fx.builder()];
    await s.acquire(holder.id, 0);
    fx.clock.advance(TTL - 1);
    expect(await s.heartbeat(holder.id, wf.job("j"))).toBe("continue");
    fx.clock.advance(TTL - 1);
    await s.expireLeases();
    expect(await fx.statusOf(wf.job("j"))).toBe("running");
    expect(await s.heartbeat(other.id, wf.job("j"))).toBe("gone");
    expect(await s.cancel(wf.job("j"))).toBe(true);
    expect(await s.heartbeat(holder.id, wf.job("j"))).toBe("cancel");
  });

  test("a lease not extended is lost and re-queued once, away from its builder while another is alive", async () => {
    fx = await schedulerFixture();
    const s = scheduler();
    const wf = await fx.workflow([{ name: "j" }]);
    const [first, second] = [await fx.builder(), await fx.builder()];
    await s.acquire(first.id, 0);
    fx.clock.advance(TTL + 1);
    await s.expireLeases();
    const lost = await fx.jobRow(wf.job("j"));
    expect(lost.status).toBe("lost");
    expect(lost.failureReason).toBe(
      "infrastructure failure: the builder stopped sending heartbeats; re-queued as attempt 2",
    );
    const retry = await fx.jobRow(lost.supersededBy!);
    expect([retry.status, retry.attempt, retry.avoidBuilderId]).toEqual(["queued", 2, first.id]);
    // The second builder is alive (seen just now); the first is avoided while it is.
    await fx.db.update(builders).set({ lastSeenAt: fx.clock.now() }).where(eq(builders.id, second.id));
    expect(await s.acquire(first.id, 0)).toBeNull();
    const again = await s.acquire(second.id, 0);
    expect([again?.job.id, again?.job.attempt]).toEqual([retry.id, 2]);
    // A second attempt lost is not re-queued again.
    fx.clock.advance(TTL + 1);
    await s.expireLeases();
    expect((await fx.jobRow(retry.id)).supersededBy).toBeNull();
    expect(await fx.workflowStatus(wf.workflowId)).toBe("failed");
  });

  test("a builder uploading a job's log keeps its lease without heartbeats; one that goes silent loses its job", async () => {
    fx = await schedulerFixture();
    const s = scheduler();
    const wf = await fx.workflow([{ name: "uploading" }, { name: "silent" }]);
    const holder = await fx.builder();
    await s.acquire(holder.id, 0);
    await s.acquire(holder.id, 0);
    const [uploading, silent] = [wf.job("uploading"), wf.job("silent")];
    for (let i = 0; i < 6; i++) {
      fx.clock.advance(TTL / 2);
      await s.uploaded(holder.id, uploading);
      await s.expireLeases();
    }
    expect(await fx.statusOf(uploading)).toBe("running");
    expect((await fx.jobRow(uploading)).leaseExpiresAt).toBe(fx.clock.now() + TTL);
    expect((await fx.jobRow(silent)).failureReason).toBe(
      "infrastructure failure: the builder stopped sending heartbeats; re-queued as attempt 2",
    );
    // A late upload to the lost job extends nothing. (Its log is archived in the background first,
    // or the archive's own write would differ from the snapshot.)
    await fx.logs.archived(silent);
    const lost = await fx.jobRow(silent);
    await s.uploaded(holder.id, silent);
    expect(await fx.jobRow(silent)).toEqual(lost);
  });

  test("uploads write the lease at most once per third of the TTL, and only for the builder holding it", async () => {
    fx = await schedulerFixture();
    const s = scheduler();
    const wf = await fx.workflow([{ name: "j" }]);
    const [holder, other] = [await fx.builder(), await fx.builder()];
    await s.acquire(holder.id, 0);
    const expiry = async () => (await fx.jobRow(wf.job("j"))).leaseExpiresAt;
    await s.uploaded(holder.id, wf.job("j"));
    const written = fx.clock.now() + TTL;
    expect(await expiry()).toBe(written);
    fx.clock.advance(Math.floor(TTL / 3) - 1);
    await s.uploaded(holder.id, wf.job("j"));
    expect(await expiry()).toBe(written);
    // A heartbeat writes whenever it comes, and counts as the lease's last extension.
    expect(await s.heartbeat(holder.id, wf.job("j"))).toBe("continue");
    const beaten = fx.clock.now() + TTL;
    fx.clock.advance(Math.floor(TTL / 3) - 1);
    await s.uploaded(holder.id, wf.job("j"));
    expect(await expiry()).toBe(beaten);
    fx.clock.advance(2); // a third of the TTL since the heartbeat
    await s.uploaded(other.id, wf.job("j"));
    expect(await expiry()).toBe(beaten);
    // The refused extension does not hold back the holder's.
    await s.uploaded(holder.id, wf.job("j"));
    expect(await expiry()).toBe(fx.clock.now() + TTL);
  });

  test("revoking a builder loses its running jobs", async () => {
    fx = await schedulerFixture();
    const s = scheduler();
    const wf = await fx.workflow([{ name: "j" }]);
    const b = await fx.builder();
    await s.acquire(b.id, 0);
    await s.loseJobsOf(b.id, "the builder was revoked");
    expect((await fx.jobRow(wf.job("j"))).failureReason).toBe(
      "the builder was revoked; re-queued as attempt 2",
    );
  });
});

describe("results", () => {
  test("only the lease holder finishes a job; its steps are recorded; the workflow and pipeline settle", async () => {
    fx = await schedulerFixture();
    const s = scheduler();
    const wf = await fx.workflow([{ name: "j" }]);
    const [holder, other] = [await fx.builder(), await fx.builder()];
    await s.acquire(holder.id, 0);
    await s.reportStep(wf.job("j"), { index: 0, name: "hi", status: "running", log_offset: 0 }, 1);
    await s.reportStep(
      wf.job("j"),
      { index: 0, name: "hi", status: "success", exit_code: 0, log_offset: 0 },
      1,
    );
    const steps = await fx.db.query.steps.findMany();
    expect(steps.map((x) => [x.index, x.status, x.exitCode])).toEqual([[0, "success", 0]]);
    expect(await s.finish(other.id, wf.job("j"), done)).toBe(false);
    expect(await s.finish(holder.id, wf.job("j"), done)).toBe(true);
    expect(await s.finish(holder.id, wf.job("j"), done)).toBe(false);
    expect(await fx.workflowStatus(wf.workflowId)).toBe("success");
    expect(await fx.pipelineStatus(wf.pipelineId)).toBe("success");
    expect(fx.emitted.map((e) => `${e.type} ${e.status}`)).toEqual([
      "job.started running",
      "job.finished success",
      "workflow.finished success",
      "pipeline.finished success",
    ]);
  });

  test("a job whose secrets cannot be sealed fails at grant instead of running without them", async () => {
    fx = await schedulerFixture();
    const wf = await fx.workflow([{ name: "j" }]);
    const s = new Scheduler({
      db: fx.db,
      logs: fx.logs,
      events: fx.events,
      now: fx.clock.now,
      jobSecrets: async () => ({ A: "b" }),
    });
    // A builder row without a usable key: nothing can be sealed to it.
    const b = await fx.builder();
    await fx.db.update(builders).set({ publicKey: "not-a-key" }).where(eq(builders.id, b.id));
    expect(await s.acquire(b.id, 0)).toBeNull();
    const row = await fx.jobRow(wf.job("j"));
    expect(row.status).toBe("failed");
    expect(row.failureReason).toStartWith("secrets: ");
  });
});
