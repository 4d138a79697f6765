// Leases: which builder runs which job. Every state change is a conditional UPDATE checked by its
// row count, so two server processes on one database never grant one job twice.
import { and, asc, count, eq, gt, inArray, isNull, lt, ne } from "drizzle-orm";
import type { FinishReport, JobPayload, StepReport, TestTimings } from "../../protocol/index.ts";
import { checkoutKeyContext, LEASE_TTL_MS } from "../../protocol/index.ts";
import type { JobSpec } from "../circleci/types.ts";
import type { Db } from "../db/client.ts";
import { builders, type JobStatus, jobs, pipelines, projects, steps, workflows } from "../db/schema.ts";
import { pullRequestEnvironment } from "../forge/events.ts";
import type { LogService } from "../logs/service.ts";
import { SecretsError, sealForBuilder } from "../secrets/index.ts";
import type { EventLog } from "./events.ts";
import { newId } from "./ids.ts";
import type { TemplateTable } from "./templates.ts";

const TERMINAL: JobStatus[] = ["success", "failed", "canceled", "lost", "not_run"];
export const isTerminal = (s: string): boolean => (TERMINAL as string[]).includes(s);
/** A workflow's `type: approval` job: never leased; it waits, queued, for POST /jobs/:id/approve. */
export const isApproval = (job: { spec: string }): boolean =>
  (JSON.parse(job.spec) as JobSpec).type === "approval";

type JobRow = typeof jobs.$inferSelect;

/** A `type: no-op` job: never leased; it succeeds as soon as its requirements are met. */
const isNoop = (job: { spec: string }): boolean => (JSON.parse(job.spec) as JobSpec).type === "no-op";

/** What each required job may have ended in (`requires: [{build: [success, failed]}]`); default success. */
const allowedOutcomes = (job: { spec: string }): Record<string, readonly string[]> =>
  (JSON.parse(job.spec) as JobSpec).requiresStatus ?? {};

/** A finished job's status in CircleCI's words (`requires` statuses): a lost job failed. */
const outcome = (r: { status: string }): string => (r.status === "lost" ? "failed" : r.status);

/** A job's `resource_class`; CircleCI's default is `medium`. */
export const resourceClassOf = (job: JobRow): string =>
  (JSON.parse(job.spec) as JobSpec).resourceClass ?? "medium";

/** The row of a job's next attempt: same job, same slice, a fresh log and lease. */
function nextAttempt(job: JobRow, id: string): typeof jobs.$inferInsert {
  return {
    id,
    pipelineId: job.pipelineId,
    workflowId: job.workflowId,
    projectId: job.projectId,
    name: job.name,
    spec: job.spec,
    requires: job.requires,
    template: job.template,
    attempt: job.attempt + 1,
    sliceIndex: job.sliceIndex,
    sliceTotal: job.sliceTotal,
  };
}

export class Scheduler {
  private waiters = new Set<() => void>();
  /** Heartbeats waiting for the next lease-extending commit, and the loop committing them. */
  private beats: {
    builderId: string;
    jobId: string;
    resolve: (ok: boolean) => void;
    reject: (e: unknown) => void;
  }[] = [];
  private beating: Promise<void> | null = null;
  /** The operator's image → template table: says which image a builder pulls (CAIRN_TEMPLATES). */
  templates?: Pick<TemplateTable, "imageFor">;
  /**
   * A job's secrets by name (its project's env vars and its contexts'), sealed into its payload for
   * the builder holding the lease. Unset: payloads carry no secrets.
   */
  jobSecrets?: (
    projectId: string,
    contexts: readonly string[],
    jobId: string,
  ) => Promise<Record<string, string>>;
  /** A project's deploy key (OpenSSH private key), sealed into payloads for the checkout. Unset or null: none. */
  checkoutKey?: (project: typeof projects.$inferSelect) => Promise<string | null>;
  /** The project's earlier test timings for a job name (for `cairn tests split`). Unset: payloads carry none. */
  testTimings?: (projectId: string, jobName: string, pipelineId: string) => Promise<TestTimings | undefined>;

  constructor(
    private readonly db: Db,
    private readonly logs: LogService,
    private readonly events: EventLog,
    private readonly now: () => number = Date.now,
    /** How long a lease lives after the last heartbeat (CAIRN_LEASE_TTL_MS; tests shorten it). */
    private readonly leaseTtlMs: number = LEASE_TTL_MS,
    /** How long a "re-run with SSH" container stays up after its steps (CAIRN_SSH_WINDOW_S, default 10 min). */
    readonly sshWindowSeconds: number = 600,
  ) {}

  private jobEvent(job: typeof jobs.$inferSelect, type: "job.started" | "job.finished", status: string) {
    return this.events.emit({
      type,
      project_id: job.projectId,
      pipeline_id: job.pipelineId,
      workflow_id: job.workflowId,
      job_id: job.id,
      name: job.name,
      status,
    });
  }

  /** Wakes builders waiting in acquire: new work may be there. */
  notify(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  private waitForWork(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener("abort", done);
    });
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
      await this.waitForWork(Math.min(left, 1000), signal);
    }
  }

  /**
   * Queued jobs in the order they should be granted: fair between projects (the project with the
   * fewest running jobs first, then the oldest job), skipping projects at their concurrency limit.
   */
  private async candidates(): Promise<(typeof jobs.$inferSelect)[]> {
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
  private async shouldAvoid(job: typeof jobs.$inferSelect, builderId: string): Promise<boolean> {
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
    for (const job of await this.candidates()) {
      if (classes && !classes.includes(resourceClassOf(job))) continue; // does not fit on this builder now
      if (await this.shouldAvoid(job, builderId)) continue;
      if (isApproval(job)) continue; // held until someone approves it (approve below)
      if (!(await this.requirementsMet(job))) continue;
      if (isNoop(job)) {
        await this.settleNoop(job);
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
      await this.jobEvent(job, "job.started", "running");
      try {
        return await this.payload(job.id, leaseId, builderId);
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

  /**
   * Every required job ended in a status the job accepts (success unless `requires` names others):
   * all its slices, counting only the latest attempt of each.
   */
  private async requirementsMet(job: JobRow): Promise<boolean> {
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
  private async settleNoop(job: JobRow): Promise<void> {
    const now = this.now();
    const r = await this.db
      .update(jobs)
      .set({ status: "success", startedAt: now, finishedAt: now })
      .where(and(eq(jobs.id, job.id), eq(jobs.status, "queued")));
    if (r.rowsAffected !== 1) return;
    await this.logs.finish(job.id, "success");
    await this.jobEvent(job, "job.finished", "success");
    await this.advance(job.workflowId);
  }

  private async payload(jobId: string, leaseId: string, builderId: string): Promise<JobPayload> {
    const job = (await this.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) }))!;
    const pipeline = (await this.db.query.pipelines.findFirst({ where: eq(pipelines.id, job.pipelineId) }))!;
    const project = (await this.db.query.projects.findFirst({ where: eq(projects.id, job.projectId) }))!;
    const spec = JSON.parse(job.spec) as JobSpec;
    return {
      lease_id: leaseId,
      resource_class: spec.resourceClass ?? "medium",
      ...(job.sshEnabled ? { ssh: { window_seconds: this.sshWindowSeconds } } : {}),
      job: { id: job.id, name: job.name, attempt: job.attempt },
      project: { id: project.id, name: project.name },
      pipeline: { id: pipeline.id, number: pipeline.number },
      checkout: {
        repo_url: project.repoUrl,
        sha: pipeline.sha,
        branch: pipeline.branch,
        tag: pipeline.tag,
        ...(await this.sealedCheckout(job.id, project, builderId)),
      },
      template: job.template,
      ...this.templates?.imageFor(spec.executor),
      working_directory: spec.workingDirectory,
      environment: {
        ...spec.environment,
        CI: "true",
        CAIRN: "true",
        CIRCLECI: "true",
        CIRCLE_JOB: job.name,
        CIRCLE_SHA1: pipeline.sha,
        CIRCLE_BRANCH: pipeline.branch ?? "",
        CIRCLE_TAG: pipeline.tag ?? "",
        CIRCLE_BUILD_NUM: String(pipeline.number),
        CIRCLE_PROJECT_REPONAME: project.name,
        CIRCLE_WORKING_DIRECTORY: spec.workingDirectory,
        CIRCLE_NODE_INDEX: String(job.sliceIndex),
        CIRCLE_NODE_TOTAL: String(job.sliceTotal),
        CAIRN_NODE_INDEX: String(job.sliceIndex),
        CAIRN_NODE_TOTAL: String(job.sliceTotal),
        CAIRN_JOB_ID: job.id,
        CAIRN_PIPELINE_NUMBER: String(pipeline.number),
        ...pullRequestEnvironment(pipeline.metadata),
      },
      steps: spec.steps,
      secrets: await this.sealedSecrets(job.id, job.projectId, spec.contexts ?? [], builderId),
      // Only where a split may want them: a parallel job, or a step that calls the split helper.
      test_timings:
        job.sliceTotal > 1 || spec.steps.some((s) => s.type === "run" && /tests\s+split/.test(s.command))
          ? await this.testTimings?.(job.projectId, job.name, job.pipelineId)
          : undefined,
    };
  }

  /** Sealed to the builder's own NaCl key and bound to the job id: only that builder opens them, only for this job. */
  private async sealedSecrets(
    jobId: string,
    projectId: string,
    contexts: readonly string[],
    builderId: string,
  ) {
    if (!this.jobSecrets) return undefined;
    const builder = await this.db.query.builders.findFirst({ where: eq(builders.id, builderId) });
    if (!builder) throw new SecretsError("builder_unknown", `builder ${builderId} does not exist`);
    return sealForBuilder(builder.publicKey, await this.jobSecrets(projectId, contexts, jobId), jobId);
  }

  /** The project's deploy key sealed to this builder for this job only, with its pinned host keys. */
  private async sealedCheckout(jobId: string, project: typeof projects.$inferSelect, builderId: string) {
    const privateKey = await this.checkoutKey?.(project);
    if (!privateKey) return {};
    const builder = await this.db.query.builders.findFirst({ where: eq(builders.id, builderId) });
    if (!builder) throw new SecretsError("builder_unknown", `builder ${builderId} does not exist`);
    return {
      deploy_key: sealForBuilder(builder.publicKey, { private_key: privateKey }, checkoutKeyContext(jobId)),
      known_hosts: project.knownHosts ?? "",
    };
  }

  /**
   * Approves a held approval job once everything it requires succeeded: it succeeds, and the jobs
   * waiting on it become runnable; otherwise says why not.
   */
  async approve(jobId: string): Promise<"approved" | "not_ready" | "not_pending"> {
    const job = await this.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
    if (!job || !isApproval(job) || job.status !== "queued") return "not_pending";
    if (!(await this.requirementsMet(job))) return "not_ready";
    const now = this.now();
    const r = await this.db
      .update(jobs)
      .set({ status: "success", startedAt: now, finishedAt: now })
      .where(and(eq(jobs.id, jobId), eq(jobs.status, "queued")));
    if (r.rowsAffected !== 1) return "not_pending";
    await this.logs.finish(jobId, "success");
    await this.jobEvent(job, "job.finished", "success");
    await this.advance(job.workflowId);
    return "approved";
  }

  /** Extends the lease; tells the builder to cancel when the job was canceled meanwhile. */
  async heartbeat(builderId: string, jobId: string): Promise<"continue" | "cancel" | "gone"> {
    const extended = await new Promise<boolean>((resolve, reject) => {
      this.beats.push({ builderId, jobId, resolve, reject });
      this.beating ??= this.extendLeases();
    });
    if (extended) return "continue";
    const job = await this.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
    return job?.builderId === builderId && job.status === "canceled" ? "cancel" : "gone";
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
    if (done) await this.logs.endSegment(jobId);
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
  }

  /** Records the builder's result; only the builder holding the lease can finish a running job. */
  async finish(builderId: string, jobId: string, report: FinishReport): Promise<boolean> {
    // Flush first: a viewer that sees the job ended must already find its last line stored.
    await this.logs.endSegment(jobId);
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
    await this.logs.finish(jobId, job.status);
    await this.jobEvent(job, "job.finished", job.status);
    await this.advance(job.workflowId);
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
    await this.jobEvent(job, "job.finished", "canceled");
    await this.advance(job.workflowId);
    return true;
  }

  /** Jobs whose builder stopped heartbeating are lost (an infrastructure failure). */
  async expireLeases(): Promise<void> {
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
  private async loseJob(
    job: typeof jobs.$inferSelect,
    reason: string,
    also?: ReturnType<typeof lt>,
  ): Promise<boolean> {
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
    await this.logs.finish(job.id, "lost");
    await this.jobEvent(job, "job.finished", "lost");
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
    this.notify();
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
    this.notify();
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
          await this.jobEvent(job, "job.finished", "not_run");
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
    this.notify();
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
