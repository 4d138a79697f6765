// What the scheduler reads off a job row: its kind (build, approval, no-op), its resource class,
// what it accepts of the jobs it requires, the row of its next attempt, and its events.
import type { JobSpec } from "../../circleci/types.ts";
import type { jobs } from "../../db/schema.ts";
import type { EventLog } from "../events.ts";

export type JobRow = typeof jobs.$inferSelect;

const specOf = (job: { spec: string }): JobSpec => JSON.parse(job.spec) as JobSpec;

/** A workflow's `type: approval` job: never leased; it waits, queued, for POST /jobs/:id/approve. */
export const isApproval = (job: { spec: string }): boolean => specOf(job).type === "approval";

/** A `type: no-op` job: never leased; it succeeds as soon as its requirements are met. */
export const isNoop = (job: { spec: string }): boolean => specOf(job).type === "no-op";

/** What each required job may have ended in (`requires: [{build: [success, failed]}]`); default success. */
export const allowedOutcomes = (job: { spec: string }): Record<string, readonly string[]> =>
  specOf(job).requiresStatus ?? {};

/** A finished job's status in CircleCI's words (`requires` statuses): a lost job failed. */
export const outcome = (r: { status: string }): string => (r.status === "lost" ? "failed" : r.status);

/** A job's `resource_class`; CircleCI's default is `medium`. */
export const resourceClassOf = (job: { spec: string }): string => specOf(job).resourceClass ?? "medium";

/** The row of a job's next attempt: same job, same slice, a fresh log and lease. */
export function nextAttempt(job: JobRow, id: string): typeof jobs.$inferInsert {
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

/** A job started or finished, for live builds lists and commit statuses. */
export function jobEvent(
  events: EventLog,
  job: JobRow,
  type: "job.started" | "job.finished",
  status: string,
): Promise<void> {
  return events.emit({
    type,
    project_id: job.projectId,
    pipeline_id: job.pipelineId,
    workflow_id: job.workflowId,
    job_id: job.id,
    name: job.name,
    status,
  });
}
