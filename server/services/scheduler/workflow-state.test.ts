// Workflow state on a real libSQL file: requirements, `not_run`, approvals, no-op jobs, cancels,
// re-runs, and the workflow's and pipeline's result with their events.
import { afterEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { jobs } from "../../db/schema.ts";
import { schedulerFixture } from "./testing.ts";
import { Wakeups } from "./wakeups.ts";
import { WorkflowState } from "./workflow-state.ts";

let fx: Awaited<ReturnType<typeof schedulerFixture>>;
afterEach(() => fx.close());

async function setup() {
  fx = await schedulerFixture();
  const wakeups = new Wakeups();
  let woken = 0;
  const wait = () => wakeups.wait(60_000).then(() => woken++);
  const state = new WorkflowState({
    db: fx.db,
    logs: fx.logs,
    events: fx.events,
    wakeups,
    now: fx.clock.now,
  });
  return { state, wait, woken: () => woken };
}

/** Ends a job as its builder would have (the part leases.ts does), then advances its workflow. */
async function end(state: WorkflowState, id: string, status: "success" | "failed") {
  await fx.db.update(jobs).set({ status, finishedAt: fx.clock.now() }).where(eq(jobs.id, id));
  const job = await fx.jobRow(id);
  await state.advance(job.workflowId);
}

const eventTypes = () => fx.emitted.map((e) => `${e.type} ${e.status}`);

describe("requirements", () => {
  test("a job may run once what it requires succeeded, in every slice", async () => {
    const { state } = await setup();
    const wf = await fx.workflow([
      { name: "build", slices: 2 },
      { name: "test", requires: ["build"] },
    ]);
    const test_ = await fx.jobRow(wf.job("test"));
    expect(await state.requirementsMet(test_)).toBe(false);
    await end(state, wf.ids.build[0], "success");
    expect(await state.requirementsMet(test_)).toBe(false);
    await end(state, wf.ids.build[1], "success");
    expect(await state.requirementsMet(test_)).toBe(true);
  });

  test("a failed requirement makes what waits on it not_run, transitively; the workflow and pipeline fail", async () => {
    const { state } = await setup();
    const wf = await fx.workflow([
      { name: "build" },
      { name: "test", requires: ["build"] },
      { name: "deploy", requires: ["test"] },
    ]);
    await end(state, wf.job("build"), "failed");
    expect(await fx.statusOf(wf.job("test"))).toBe("not_run");
    expect(await fx.statusOf(wf.job("deploy"))).toBe("not_run");
    expect((await fx.jobRow(wf.job("deploy"))).failureReason).toBe(
      "not run: required job test did not succeed",
    );
    expect(await fx.workflowStatus(wf.workflowId)).toBe("failed");
    expect(await fx.pipelineStatus(wf.pipelineId)).toBe("failed");
    expect(eventTypes()).toEqual([
      "job.finished not_run",
      "job.finished not_run",
      "workflow.finished failed",
      "pipeline.finished failed",
    ]);
  });

  test("`requires` statuses: a job that accepts a failure runs after one", async () => {
    const { state } = await setup();
    const wf = await fx.workflow([
      { name: "build" },
      { name: "report", requires: ["build"], requiresStatus: { build: ["success", "failed"] } },
    ]);
    await end(state, wf.job("build"), "failed");
    const report = await fx.jobRow(wf.job("report"));
    expect(report.status).toBe("queued");
    expect(await state.requirementsMet(report)).toBe(true);
  });
});

describe("approvals and no-op jobs", () => {
  test("an approval is not ready until its requirements succeed, then approved once; the jobs after it may run", async () => {
    const { state } = await setup();
    const wf = await fx.workflow([
      { name: "build" },
      { name: "hold", type: "approval", requires: ["build"] },
      { name: "deploy", requires: ["hold"] },
    ]);
    expect(await state.approve(wf.job("build"))).toBe("not_pending");
    expect(await state.approve(wf.job("hold"))).toBe("not_ready");
    await end(state, wf.job("build"), "success");
    expect(await state.approve(wf.job("hold"))).toBe("approved");
    expect(await state.approve(wf.job("hold"))).toBe("not_pending");
    expect(await fx.statusOf(wf.job("hold"))).toBe("success");
    expect(await state.requirementsMet(await fx.jobRow(wf.job("deploy")))).toBe(true);
  });

  test("an approval whose record cannot be written is not kept: the job stays on hold", async () => {
    const { state } = await setup();
    const wf = await fx.workflow([
      { name: "hold", type: "approval" },
      { name: "deploy", requires: ["hold"] },
    ]);
    const refused = state.approve(wf.job("hold"), async () => {
      throw new Error("the audit write failed");
    });
    await expect(refused).rejects.toThrow("the audit write failed");
    expect(await fx.statusOf(wf.job("hold"))).toBe("queued");
    let recorded = 0;
    expect(await state.approve(wf.job("hold"), async () => void recorded++)).toBe("approved");
    expect(recorded).toBe(1);
    expect(await fx.statusOf(wf.job("hold"))).toBe("success");
  });

  test("a no-op job succeeds as soon as its requirements are met, and the workflow settles", async () => {
    const { state } = await setup();
    const wf = await fx.workflow([{ name: "build" }, { name: "join", type: "no-op", requires: ["build"] }]);
    await end(state, wf.job("build"), "success");
    expect(await fx.statusOf(wf.job("join"))).toBe("success");
    expect(await fx.workflowStatus(wf.workflowId)).toBe("success");
    expect(await fx.pipelineStatus(wf.pipelineId)).toBe("success");
  });
});

describe("cancel and re-run", () => {
  test("a canceled queued job ends its log; what waits on it does not run", async () => {
    const { state } = await setup();
    const wf = await fx.workflow([{ name: "build" }, { name: "test", requires: ["build"] }]);
    expect(await state.cancel(wf.job("build"))).toBe(true);
    expect(await state.cancel(wf.job("build"))).toBe(false);
    expect(await fx.statusOf(wf.job("test"))).toBe("not_run");
    expect(await fx.workflowStatus(wf.workflowId)).toBe("canceled");
  });

  test("re-running the failed jobs makes new attempts of those only, supersedes the old, requeues, and wakes builders", async () => {
    const { state, wait, woken } = await setup();
    const wf = await fx.workflow([
      { name: "lint" },
      { name: "build" },
      { name: "test", requires: ["build"] },
    ]);
    await expect(state.rerunWorkflow(wf.workflowId, true)).rejects.toThrow(/still running/);
    await end(state, wf.job("lint"), "success");
    await end(state, wf.job("build"), "failed");
    expect(await fx.workflowStatus(wf.workflowId)).toBe("failed");
    const waiting = wait();
    const created = await state.rerunWorkflow(wf.workflowId, true);
    await waiting;
    expect(woken()).toBe(1);
    const again = await Promise.all(created.map((id) => fx.jobRow(id)));
    expect(again.map((j) => [j.name, j.attempt, j.status]).sort()).toEqual([
      ["build", 2, "queued"],
      ["test", 2, "queued"],
    ]);
    expect((await fx.jobRow(wf.job("build"))).supersededBy).toBe(
      created[again.findIndex((j) => j.name === "build")],
    );
    expect(await fx.workflowStatus(wf.workflowId)).toBe("queued");
    expect(await fx.pipelineStatus(wf.pipelineId)).toBe("running");
  });

  test("a job is re-run once per attempt, only after it ended; with SSH the attempt says so", async () => {
    const { state } = await setup();
    const wf = await fx.workflow([{ name: "build" }]);
    await expect(state.rerunJob(wf.job("build"), { ssh: true })).rejects.toThrow("the job is still running");
    await end(state, wf.job("build"), "failed");
    const id = await state.rerunJob(wf.job("build"), { ssh: true });
    expect((await fx.jobRow(id)).sshEnabled).toBe(true);
    await expect(state.rerunJob(wf.job("build"), { ssh: false })).rejects.toThrow("already re-run");
    await expect(state.rerunJob("no-such-job", { ssh: false })).rejects.toThrow("does not exist");
  });
});
