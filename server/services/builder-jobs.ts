// A builder's hold on a job, as its calls check it, and what a job stores through its builder.
import { eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { artifacts, jobs } from "../db/schema.ts";
import { Conflict, NotFound } from "../errors.ts";
import { audit } from "./audit.ts";
import { newId } from "./ids.ts";
import type { JobRow } from "./runs.ts";

/**
 * The job, if this builder holds its lease: 404 for no such job, 409 `lease_lost` otherwise.
 * `live` also asks that it still runs (blob traffic); without it a canceled job not yet finished passes.
 */
export async function leasedJob(db: Db, builderId: string, jobId: string, live = false): Promise<JobRow> {
  const job = await db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
  if (!job) throw new NotFound("job", jobId);
  if (job.builderId !== builderId || (live && job.status !== "running"))
    throw new Conflict("this builder does not hold the job's lease", undefined, "lease_lost");
  return job;
}

/** True while the job runs: blob URLs are bound to the lease and stop working when it ends. */
export async function jobIsRunning(db: Db, jobId: string): Promise<boolean> {
  const job = await db.query.jobs.findFirst({ where: eq(jobs.id, jobId), columns: { status: true } });
  return job?.status === "running";
}

/** Records (or replaces) a job's artifact at `path`; the blob key its builder uploads to. */
export async function recordArtifact(db: Db, jobId: string, path: string, size: number): Promise<string> {
  const blobKey = `artifacts/${jobId}/${newId()}`;
  await db
    .insert(artifacts)
    .values({ id: newId(), jobId, path, size, blobKey, createdAt: Date.now() })
    .onConflictDoUpdate({ target: [artifacts.jobId, artifacts.path], set: { size, blobKey } });
  return blobKey;
}

/** Audits an SSH session into a job's container opening or closing, as its builder reports it. */
export async function recordSshSession(
  db: Db,
  job: Pick<JobRow, "id" | "projectId">,
  report: {
    builderId: string;
    userId: string;
    event: "opened" | "closed";
    reason?: "revoked" | "unconfirmed";
    ip: string | null;
  },
): Promise<void> {
  await audit(db, {
    actor: { type: "user", id: report.userId },
    action: report.event === "opened" ? "ssh.session.opened" : "ssh.session.closed",
    target: { type: "job", id: job.id },
    ip: report.ip,
    details: {
      builder_id: report.builderId,
      project_id: job.projectId,
      ...(report.reason ? { reason: report.reason } : {}),
    },
  });
}
