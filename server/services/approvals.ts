// Approving an approval job: the scheduler moves the workflow on, and the approval is audited in the
// transaction that marks the job approved.
import { Conflict } from "../errors.ts";
import { audit, byUser, type Requester } from "./audit.ts";
import type { Scheduler } from "./scheduler.ts";

export async function approveJob(
  deps: { scheduler: Pick<Scheduler, "approve"> },
  jobId: string,
  by: Requester,
): Promise<void> {
  const result = await deps.scheduler.approve(jobId, (tx) =>
    audit(tx, { actor: byUser(by), action: "job.approved", target: { type: "job", id: jobId }, ip: by.ip }),
  );
  if (result === "not_pending") {
    throw new Conflict(
      `job ${jobId} is not an approval job waiting to be approved`,
      { job: jobId },
      "not_pending_approval",
    );
  }
  if (result === "not_ready")
    throw new Conflict(
      `job ${jobId} waits for the jobs it requires to succeed first`,
      { job: jobId },
      "approval_not_ready",
    );
}
