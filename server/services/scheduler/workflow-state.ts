// A workflow's state as its jobs end: which queued jobs may run (their requirements met), which can
// no longer run (`not_run`), approvals and no-op jobs settled here, re-runs as new attempts, and
// the workflow's and pipeline's result once every job is over. Every change is a conditional
// UPDATE checked by its row count, so two server processes never settle one job twice.
import { and, eq, inArray, isNull } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { jobs, pipelines, workflows } from "../../db/schema.ts";
import { isTerminal } from "../../job-status.ts";
import type { LogService } from "../../logs/service.ts";
import type { DbOrTx } from "../audit.ts";
import type { EventLog } from "../events.ts";
import { newId } from "../ids.ts";
import {
  allowedOutcomes,
  isApproval,
  isNoop,
  type JobRow,
  jobEvent,
  nextAttempt,
  outcome,
} from "./job-rows.ts";
import type { Wakeups } from "./wakeups.ts";

export interface WorkflowStatePorts {
  db: Db;
  /** Ends the log of a job that ends here (its viewers get the result). */
  logs: Pick<LogService, "finish">;
  events: EventLog;
  /** Builders waiting for work, woken when jobs become runnable. */
  wakeups: Wakeups;
  now?: () => number;
}

export class WorkflowState {
  private readonly db: Db;
  private readonly logs: WorkflowStatePorts["logs"];
  private readonly events: EventLog;
  private readonly wakeups: Wakeups;
  private readonly now: () => number;

  constructor(ports: WorkflowStatePorts) {
    this.db = ports.db;
    this.logs = ports.logs;
    this.events = ports.events;
    this.wakeups = ports.wakeups;
    this.now = ports.now ?? Date.now;
  }

  /**
   * Every required job ended in a status the job accepts (success unless `requires` names others):
   * all its slices, counting only the latest attempt of each.
   */
  async requirementsMet(job: JobRow): Promise<boolean> {
    const requires = JSON.parse(job.requires) as string[];
    if (requires.length === 0) return true;
    const allowed = allowedOutcomes(job);
    const rows = await this.db
      .select({ name: jobs.name, status: jobs.status, failureReason: jobs.failureReason })
      .from(jobs)
      .where(
        and(eq(jobs.workflowId, job.workflowId), inArray(jobs.name, requires), isNull(jobs.supersededBy)),
      );
    return requires.every((name) => {
      const mine = rows.filter((r) => r.name === name);
      const ok = allowed[name] ?? ["success"];
      return mine.length > 0 && mine.every((r) => isTerminal(r.status) && ok.includes(outcome(r)));
    });
  }

  /** Ends a no-op job whose requirements are met: success, with nothing run. */
  async settleNoop(job: JobRow): Promise<void> {
    if (!(await this.succeedQueued(job))) return;
    await this.advance(job.workflowId);
  }

  /**
   * Approves a held approval job once everything it requires succeeded: it succeeds, and the jobs
   * waiting on it become runnable; otherwise says why not. `record` (the approval's audit event) is
   * written in the transaction that marks the job approved, so neither is kept without the other.
   */
  async approve(
    jobId: string,
    record?: (tx: DbOrTx) => Promise<void>,
  ): Promise<"approved" | "not_ready" | "not_pending"> {
    const job = await this.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
    if (!job || !isApproval(job) || job.status !== "queued") return "not_pending";
    if (!(await this.requirementsMet(job))) return "not_ready";
    if (!(await this.succeedQueued(job, record))) return "not_pending";
    await this.advance(job.workflowId);
    return "approved";
  }

  /** A queued job that runs nothing succeeds now; false if it was no longer queued. */
  private async succeedQueued(job: JobRow, record?: (tx: DbOrTx) => Promise<void>): Promise<boolean> {
    const now = this.now();
    const succeeded = await this.db.transaction(async (tx) => {
      const r = await tx
        .update(jobs)
        .set({ status: "success", startedAt: now, finishedAt: now })
        .where(and(eq(jobs.id, job.id), eq(jobs.status, "queued")));
      if (r.rowsAffected !== 1) return false;
      await record?.(tx);
      return true;
    });
    if (!succeeded) return false;
    await this.logs.finish(job.id, "success");
    await jobEvent(this.events, job, "job.finished", "success");
    return true;
  }

  /** Cancels a job that has not ended; a running one is stopped by its builder at the next heartbeat. */
  async cancel(jobId: string): Promise<boolean> {
    const r = await this.db
      .update(jobs)
      .set({ status: "canceled", failureReason: "canceled by a user" })
      .where(and(eq(jobs.id, jobId), inArray(jobs.status, ["queued", "running"])));
    if (r.rowsAffected !== 1) return false;
    const job = (await this.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) }))!;
    if (!job.builderId) await this.logs.finish(jobId, "canceled");
    await jobEvent(this.events, job, "job.finished", "canceled");
    await this.advance(job.workflowId);
    return true;
  }

  /**
   * Re-runs a finished workflow: every job again, or with `failedOnly` just those that did not
   * succeed (and, through `requires`, what they block). Old attempts stay, superseded, for history.
   */
  async rerunWorkflow(workflowId: string, failedOnly: boolean): Promise<string[]> {
    const current = await this.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.workflowId, workflowId), isNull(jobs.supersededBy)));
    if (!current.every((j) => isTerminal(j.status))) {
      throw new Error("the workflow is still running: cancel it or wait for it to end");
    }
    const again = current.filter((j) => !failedOnly || j.status !== "success");
    const created: string[] = [];
    await this.db.transaction(async (tx) => {
      for (const job of again) {
        const id = newId();
        const r = await tx
          .update(jobs)
          .set({ supersededBy: id })
          .where(and(eq(jobs.id, job.id), isNull(jobs.supersededBy)));
        if (r.rowsAffected !== 1) continue;
        await tx.insert(jobs).values(nextAttempt(job, id));
        created.push(id);
      }
      if (created.length) {
        const wf = await tx
          .update(workflows)
          .set({ status: "queued" })
          .where(eq(workflows.id, workflowId))
          .returning();
        await tx
          .update(pipelines)
          .set({ status: "running", finishedAt: null })
          .where(eq(pipelines.id, wf[0].pipelineId));
      }
    });
    this.wakeups.notify();
    return created;
  }

  /** Re-runs one finished job as a new attempt; with `ssh`, its container stays up afterwards for SSH. */
  async rerunJob(jobId: string, opts: { ssh: boolean }): Promise<string> {
    const job = await this.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
    if (!job) throw new Error(`job ${jobId} does not exist`);
    if (!isTerminal(job.status) || job.supersededBy) {
      throw new Error(job.supersededBy ? "this attempt was already re-run" : "the job is still running");
    }
    const id = newId();
    await this.db.transaction(async (tx) => {
      const r = await tx
        .update(jobs)
        .set({ supersededBy: id })
        .where(and(eq(jobs.id, job.id), isNull(jobs.supersededBy)));
      if (r.rowsAffected !== 1) throw new Error("this attempt was already re-run");
      await tx.insert(jobs).values({ ...nextAttempt(job, id), sshEnabled: opts.ssh });
      await tx.update(workflows).set({ status: "queued" }).where(eq(workflows.id, job.workflowId));
      await tx
        .update(pipelines)
        .set({ status: "running", finishedAt: null })
        .where(eq(pipelines.id, job.pipelineId));
    });
    this.wakeups.notify();
    return id;
  }

  /** After a job ends: mark `not_run` the jobs that can no longer run, wake builders, settle workflow and pipeline. */
  async advance(workflowId: string): Promise<void> {
    // Lost attempts that were re-queued no longer count: their retries do.
    const all = await this.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.workflowId, workflowId), isNull(jobs.supersededBy)));
    const byName = new Map<string, (typeof all)[number][]>();
    for (const j of all) byName.set(j.name, [...(byName.get(j.name) ?? []), j]);
    let changed = true;
    while (changed) {
      changed = false;
      for (const job of all) {
        if (job.status !== "queued") continue;
        const requires = JSON.parse(job.requires) as string[];
        const allowed = allowedOutcomes(job);
        const broken = requires.find((n) =>
          (byName.get(n) ?? []).some(
            (r) => isTerminal(r.status) && !(allowed[n] ?? ["success"]).includes(outcome(r)),
          ),
        );
        if (!broken) continue;
        const r = await this.db
          .update(jobs)
          .set({ status: "not_run", failureReason: `not run: required job ${broken} did not succeed` })
          .where(and(eq(jobs.id, job.id), eq(jobs.status, "queued")));
        if (r.rowsAffected === 1) {
          job.status = "not_run";
          job.failureReason = `not run: required job ${broken} did not succeed`;
          changed = true;
          await this.logs.finish(job.id, "not_run");
          await jobEvent(this.events, job, "job.finished", "not_run");
        }
      }
    }
    // No-op jobs whose requirements are now met end here (settleNoop advances the workflow again).
    for (const job of all) {
      if (job.status === "queued" && isNoop(job) && (await this.requirementsMet(job))) {
        await this.settleNoop(job);
        return;
      }
    }
    this.wakeups.notify();
    const statuses = all.map((j) => j.status);
    if (!statuses.every(isTerminal)) return;
    const status = statuses.every((s) => s === "success")
      ? "success"
      : statuses.some((s) => s === "failed" || s === "lost")
        ? "failed"
        : "canceled";
    const settled = await this.db
      .update(workflows)
      .set({ status })
      .where(and(eq(workflows.id, workflowId), inArray(workflows.status, ["queued", "running"])));
    const wf = (await this.db.query.workflows.findFirst({ where: eq(workflows.id, workflowId) }))!;
    const projectId = all[0]?.projectId ?? "";
    if (settled.rowsAffected === 1) {
      await this.events.emit({
        type: "workflow.finished",
        project_id: projectId,
        pipeline_id: wf.pipelineId,
        workflow_id: wf.id,
        name: wf.name,
        status,
      });
    }
    const siblings = await this.db.select().from(workflows).where(eq(workflows.pipelineId, wf.pipelineId));
    const ws = siblings.map((w) => w.status);
    if (!ws.every(isTerminal)) return;
    const pstatus = ws.every((s) => s === "success")
      ? "success"
      : ws.some((s) => s === "failed")
        ? "failed"
        : "canceled";
    const done = await this.db
      .update(pipelines)
      .set({ status: pstatus, finishedAt: this.now() })
      .where(and(eq(pipelines.id, wf.pipelineId), inArray(pipelines.status, ["queued", "running"])));
    if (done.rowsAffected === 1) {
      await this.events.emit({
        type: "pipeline.finished",
        project_id: projectId,
        pipeline_id: wf.pipelineId,
        status: pstatus,
      });
    }
  }
}
