// A job's status, and which statuses end it: the one list the schema, the scheduler, the log
// streams and the API document read.

/** `not_run`: a job whose requirements failed (or were canceled); distinct from a user's cancel. */
export const JOB_STATUSES = [
  "queued",
  "running",
  "success",
  "failed",
  "canceled",
  "lost",
  "not_run",
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

const TERMINAL: ReadonlySet<string> = new Set<JobStatus>([
  "success",
  "failed",
  "canceled",
  "lost",
  "not_run",
]);

/** Whether a job (or workflow, or pipeline) in this status is over: it will not run again. */
export const isTerminal = (status: string): boolean => TERMINAL.has(status);
