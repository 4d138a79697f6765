// Leases: which builder runs which job. A builder's long poll is granted the fairest runnable job;
// heartbeats extend its lease, and so do its accepted log uploads (a builder delivering a job's log
// is alive, even when a starved server answers its heartbeats too late); a lease that runs out, or
// a builder revoked, loses the job (an infrastructure failure, re-queued once); only the holder
// reports steps and the result. Every state change is a conditional UPDATE checked by its row
// count, so two server processes on one database never grant one job twice.
import { and, asc, count, eq, gt, inArray, isNull, lt, ne } from "drizzle-orm";
import {
  type FinishReport,
  type JobPayload,
  LEASE_TTL_MS,
  type StepReport,
} from "../../../protocol/index.ts";
import type { Db } from "../../db/client.ts";
import { builders, jobs, pipelines, projects, steps, workflows } from "../../db/schema.ts";
import type { LogService } from "../../logs/service.ts";
import { SecretsError } from "../../secrets/index.ts";
import type { EventLog } from "../events.ts";
import { newId } from "../ids.ts";
import { isApproval, isNoop, type JobRow, jobEvent, nextAttempt, resourceClassOf } from "./job-rows.ts";
import type { JobPayloads } from "./payloads.ts";
import type { Wakeups } from "./wakeups.ts";
import type { WorkflowState } from "./workflow-state.ts";

export interface LeasePorts {
  db: Db;
  /** A job's log: a segment ends with each step, and the log with the job. */
  logs: Pick<LogService, "finish" | "endSegment">;
  events: EventLog;
  /** The payload a granted job goes out with. */
  payloads: Pick<JobPayloads, "build">;
  /** What a job ending changes in its workflow, and which queued jobs may run. */
  workflows: Pick<WorkflowState, "requirementsMet" | "settleNoop" | "advance">;
  /** Builders waiting in acquire. */
  wakeups: Wakeups;
  now?: () => number;
  /** How long a lease lives after the last heartbeat (CAIRN_LEASE_TTL_MS; tests shorten it). */
  leaseTtlMs?: number;
}

/** An upload extends a lease only when this fraction of the TTL has passed since it was last extended. */
const EXTEND_BY_UPLOAD_EVERY = 1 / 3;

export class Leases {
  private readonly db: Db;
  private readonly now: () => number;
  private readonly leaseTtlMs: number;
  /** Heartbeats waiting for the next lease-extending commit, and the loop committing them. */
  private beats: {
    builderId: string;
    jobId: string;
    resolve: (ok: boolean) => void;
    reject: (e: unknown) => void;
  }[] = [];
  private beating: Promise<void> | null = null;
  /** When this process last extended (or began extending) each job's lease: see `uploaded`. */
  private readonly extendedAt = new Map<string, number>();

  constructor(private readonly ports: LeasePorts) {
    this.db = ports.db;
    this.now = ports.now ?? Date.now;
    this.leaseTtlMs = ports.leaseTtlMs ?? LEASE_TTL_MS;
  }

  /** Long poll: grants the oldest runnable job to this builder, or null after `waitMs`. */
  async acquire(
    builderId: string,
    waitMs: number,
    signal?: AbortSignal,
    /** Resource classes that fit on the builder now; absent: any. */
    classes?: readonly string[],
  ): Promise<JobPayload | null> {
    const deadline = this.now() + waitMs;
    for (;;) {
      await this.expireLeases();
      const granted = await this.tryGrant(builderId, classes);
      if (granted) return granted;
      const left = deadline - this.now();
      if (left <= 0 || signal?.aborted) return null;
      // Another server process may queue work we are not told about: look again every second.
      await this.ports.wakeups.wait(Math.min(left, 1000), signal);
    }
  }

  /**
   * Queued jobs in the order they should be granted: fair between projects (the project with the
   * fewest running jobs first, then the oldest job), skipping projects at their concurrency limit.
   */
  private async candidates(): Promise<JobRow[]> {
    const queued = await this.db
      .select()
      .from(jobs)
      .where(eq(jobs.status, "queued"))
      .orderBy(asc(jobs.createdAt))
      .limit(200);
    if (queued.length === 0) return [];
    const projectIds = [...new Set(queued.map((j) => j.projectId))];
    const running = await this.db
      .select({ projectId: jobs.projectId, n: count() })
      .from(jobs)
      .where(and(eq(jobs.status, "running"), inArray(jobs.projectId, projectIds)))
      .groupBy(jobs.projectId);
    const load = new Map(running.map((r) => [r.projectId, r.n]));
    const limits = await this.db
      .select({ id: projects.id, limit: projects.maxConcurrentJobs })
      .from(projects)
      .where(inArray(projects.id, projectIds));
    const limitOf = new Map(limits.map((p) => [p.id, p.limit]));
    const open = queued.filter((j) => {
      const limit = limitOf.get(j.projectId);
      return limit == null || (load.get(j.projectId) ?? 0) < limit;
    });
    return open.sort(
      (a, b) => (load.get(a.projectId) ?? 0) - (load.get(b.projectId) ?? 0) || a.createdAt - b.createdAt,
    );
  }

  /** A retry avoids the builder that lost it, as long as another live builder can take it. */
  private async shouldAvoid(job: JobRow, builderId: string): Promise<boolean> {
    if (job.avoidBuilderId !== builderId) return false;
    const [other] = await this.db
      .select({ n: count() })
      .from(builders)
      .where(
        and(
          ne(builders.id, builderId),
          isNull(builders.revokedAt),
          gt(builders.lastSeenAt, this.now() - this.leaseTtlMs),
        ),
      );
    return other.n > 0;
  }

  private async tryGrant(builderId: string, classes?: readonly string[]): Promise<JobPayload | null> {
    const { workflows: flow } = this.ports;
    for (const job of await this.candidates()) {
      if (classes && !classes.includes(resourceClassOf(job))) continue; // does not fit on this builder now
      if (await this.shouldAvoid(job, builderId)) continue;
      if (isApproval(job)) continue; // held until someone approves it (WorkflowState.approve)
      if (!(await flow.requirementsMet(job))) continue;
      if (isNoop(job)) {
        await flow.settleNoop(job);
        continue;
      }
      const leaseId = newId();
      const now = this.now();
      const r = await this.db
        .update(jobs)
        .set({ status: "running", builderId, leaseId, leaseExpiresAt: now + this.leaseTtlMs, startedAt: now })
        .where(and(eq(jobs.id, job.id), eq(jobs.status, "queued")));
      if (r.rowsAffected !== 1) continue; // another server granted it first
      await this.db
        .update(workflows)
        .set({ status: "running" })
        .where(and(eq(workflows.id, job.workflowId), eq(workflows.status, "queued")));
      await this.db
        .update(pipelines)
        .set({ status: "running" })
        .where(and(eq(pipelines.id, job.pipelineId), eq(pipelines.status, "queued")));
      await jobEvent(this.ports.events, job, "job.started", "running");
      try {
        return await this.ports.payloads.build(job.id, leaseId, builderId);
      } catch (err) {
        if (!(err instanceof SecretsError)) throw err;
        // A secret that does not open (tampered, wrong key) or a missing context: fail loudly, never run without it.
        await this.finish(builderId, job.id, {
          status: "failed",
          failure_reason: `secrets: ${err.message}`,
          unsandboxed: false,
          log_bytes: 0,
        });
      }
    }
    return null;
  }

  /** Extends the lease; tells the builder to cancel when the job was canceled meanwhile. */
  async heartbeat(builderId: string, jobId: string): Promise<"continue" | "cancel" | "gone"> {
    if (await this.extend(builderId, jobId)) return "continue";
    const job = await this.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
    return job?.builderId === builderId && job.status === "canceled" ? "cancel" : "gone";
  }

  /**
   * An accepted log upload of this builder's: extends the job's lease as a heartbeat does, while the
   * builder holds it, but at most once per EXTEND_BY_UPLOAD_EVERY of the TTL (a job uploads many times
   * a second). Resolves once the lease is extended, or was recently enough.
   */
  async uploaded(builderId: string, jobId: string): Promise<void> {
    const last = this.extendedAt.get(jobId);
    if (last !== undefined && this.now() - last < this.leaseTtlMs * EXTEND_BY_UPLOAD_EVERY) return;
    await this.extend(builderId, jobId);
  }

  /** Extends the lease while this builder holds the running job; false when it does not. */
  private extend(builderId: string, jobId: string): Promise<boolean> {
    this.extendedAt.set(jobId, this.now()); // uploads arriving meanwhile need not write again
    return new Promise<boolean>((resolve, reject) => {
      this.beats.push({ builderId, jobId, resolve, reject });
      this.beating ??= this.extendLeases();
    }).then(
      (extended) => {
        if (!extended) this.extendedAt.delete(jobId);
        return extended;
      },
      (err) => {
        this.extendedAt.delete(jobId);
        throw err;
      },
    );
  }

  /** Heartbeats that arrive together extend their leases in one transaction: a commit each costs an fsync. */
  private async extendLeases(): Promise<void> {
    try {
      while (this.beats.length) {
        await new Promise((r) => setImmediate(r));
        const batch = this.beats.splice(0, 256);
        const until = this.now() + this.leaseTtlMs;
        const [first, ...rest] = batch.map((b) =>
          this.db
            .update(jobs)
            .set({ leaseExpiresAt: until })
            .where(and(eq(jobs.id, b.jobId), eq(jobs.builderId, b.builderId), eq(jobs.status, "running"))),
        );
        try {
          const results = (await this.db.batch([first, ...rest])) as { rowsAffected: number }[];
          batch.forEach((b, i) => {
            b.resolve(results[i].rowsAffected === 1);
          });
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.beating = null;
    }
  }

  async reportStep(jobId: string, report: StepReport, firstLine: number): Promise<void> {
    const now = this.now();
    const done = report.status !== "running";
    if (done) await this.ports.logs.endSegment(jobId);
    await this.db
      .insert(steps)
      .values({
        jobId,
        index: report.index,
        name: report.name,
        status: report.status,
        exitCode: report.exit_code ?? null,
        firstLine,
        startedAt: now,
        finishedAt: done ? now : null,
      })
      .onConflictDoUpdate({
        target: [steps.jobId, steps.index],
        set: { status: report.status, exitCode: report.exit_code ?? null, finishedAt: done ? now : null },
      });
    if (report.image)
      await this.db
        .update(jobs)
        .set({ imageName: report.image.name, imageDigest: report.image.digest })
        .where(eq(jobs.id, jobId));
  }

  /** Records the builder's result; only the builder holding the lease can finish a running job. */
  async finish(builderId: string, jobId: string, report: FinishReport): Promise<boolean> {
    // Flush first: a viewer that sees the job ended must already find its last line stored.
    await this.ports.logs.endSegment(jobId);
    if (report.status === "lost") {
      const job = await this.db.query.jobs.findFirst({
        where: and(eq(jobs.id, jobId), eq(jobs.builderId, builderId)),
      });
      if (job?.status !== "running") return false;
      return this.loseJob(
        job,
        `infrastructure failure: ${report.failure_reason ?? "the builder lost its fleet host"}`,
        eq(jobs.builderId, builderId),
      );
    }
    const r = await this.db
      .update(jobs)
      .set({
        status: report.status,
        failureReason: report.failure_reason ?? null,
        unsandboxed: report.unsandboxed,
        finishedAt: this.now(),
        leaseId: null,
        leaseExpiresAt: null,
      })
      .where(
        and(eq(jobs.id, jobId), eq(jobs.builderId, builderId), inArray(jobs.status, ["running", "canceled"])),
      );
    if (r.rowsAffected !== 1) return false;
    const job = (await this.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) }))!;
    await this.ports.logs.finish(jobId, job.status);
    await jobEvent(this.ports.events, job, "job.finished", job.status);
    await this.ports.workflows.advance(job.workflowId);
    return true;
  }

  /** Jobs whose builder stopped heartbeating are lost (an infrastructure failure). */
  async expireLeases(): Promise<void> {
    // Jobs ended (here or by another server process) leave their entry: none older than a TTL matters.
    for (const [jobId, at] of this.extendedAt)
      if (this.now() - at >= this.leaseTtlMs) this.extendedAt.delete(jobId);
    const expired = await this.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.status, "running"), lt(jobs.leaseExpiresAt, this.now())));
    for (const job of expired) {
      await this.loseJob(
        job,
        "infrastructure failure: the builder stopped sending heartbeats",
        lt(jobs.leaseExpiresAt, this.now()),
      );
    }
  }

  /** Jobs running on a builder an administrator revoked are lost too, and re-queued. */
  async loseJobsOf(builderId: string, reason: string): Promise<void> {
    const running = await this.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.status, "running"), eq(jobs.builderId, builderId)));
    for (const job of running) await this.loseJob(job, reason);
  }

  /**
   * Marks a running job lost and, on its first attempt, re-queues it once as a new row (a fresh log,
   * preferably on another builder); the lost row stays, visible, pointing at its retry.
   */
  private async loseJob(job: JobRow, reason: string, also?: ReturnType<typeof lt>): Promise<boolean> {
    const retryId = job.attempt === 1 ? newId() : null;
    const lost = await this.db.transaction(async (tx) => {
      const r = await tx
        .update(jobs)
        .set({
          status: "lost",
          failureReason: retryId ? `${reason}; re-queued as attempt ${job.attempt + 1}` : reason,
          finishedAt: this.now(),
          supersededBy: retryId,
        })
        .where(and(eq(jobs.id, job.id), eq(jobs.status, "running"), also));
      if (r.rowsAffected !== 1) return false;
      if (retryId) {
        // Same age as the lost attempt: the retry keeps its place in the queue.
        await tx
          .insert(jobs)
          .values({ ...nextAttempt(job, retryId), avoidBuilderId: job.builderId, createdAt: job.createdAt });
      }
      return true;
    });
    if (!lost) return false;
    await this.ports.logs.finish(job.id, "lost");
    await jobEvent(this.ports.events, job, "job.finished", "lost");
    await this.ports.workflows.advance(job.workflowId);
    return true;
  }
}
