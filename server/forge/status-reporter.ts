// Commit statuses back to the forge: `pending` for each workflow when a pipeline is created, then
// success / failure / error when the workflow settles. Fed by the event log; posts run in the
// background, retried with backoff (retryable.ts), one queue per commit and context so an old
// `pending` can never land after the final state. The API never waits for them.
import { eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { pipelines, projects, workflows } from "../db/schema.ts";
import type { Keyring } from "../secrets/index.ts";
import type { CairnEvent } from "../services/events.ts";
import type { GithubConnection } from "./github/client.ts";
import { type CommitState, createStatus } from "./github/statuses.ts";
import { forgeConnection } from "./project-forge.ts";
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "./retryable.ts";

const STATE: Record<string, CommitState> = { success: "success", failed: "failure", canceled: "error" };

export interface StatusReporterOptions {
  db: Db;
  keyring: Keyring;
  /** Where people open Cairn (CAIRN_PUBLIC_URL): the status links to `<publicUrl>/pipelines/<id>`. */
  publicUrl: string;
  retry?: RetryPolicy;
  log?: (msg: string) => void;
}

export class StatusReporter {
  private queues = new Map<string, Promise<void>>();
  private planning = new Set<Promise<void>>();

  constructor(private readonly opts: StatusReporterOptions) {}

  /** Event log subscriber: never throws, never blocks the emitter. */
  handle = (event: CairnEvent): void => {
    if (!["pipeline.created", "pipeline.continued", "workflow.finished"].includes(event.type)) return;
    const p = this.plan(event)
      .catch((err) =>
        this.opts.log?.(`commit status for pipeline ${event.pipeline_id}: ${(err as Error).message}`),
      )
      .finally(() => this.planning.delete(p));
    this.planning.add(p);
  };

  /** Resolves when every status queued so far was posted or given up on (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.queues.size > 0 || this.planning.size > 0) {
      await Promise.all([...this.planning, ...this.queues.values()]);
    }
  }

  private async plan(event: CairnEvent): Promise<void> {
    const { db, keyring } = this.opts;
    const pipeline = await db.query.pipelines.findFirst({ where: eq(pipelines.id, event.pipeline_id) });
    if (!pipeline) return;
    const project = await db.query.projects.findFirst({ where: eq(projects.id, pipeline.projectId) });
    if (!project) return;
    const conn = forgeConnection(keyring, project);
    if (!conn) return;
    const target_url = `${this.opts.publicUrl.replace(/\/+$/, "")}/pipelines/${pipeline.id}`;
    if (event.type === "pipeline.created") {
      const wfs = await db.select().from(workflows).where(eq(workflows.pipelineId, pipeline.id));
      for (const wf of wfs) {
        this.post(conn, pipeline.sha, {
          state: "pending",
          target_url,
          context: `cairn/${wf.name}`,
          description: `Pipeline #${pipeline.number}: ${wf.name} is queued`,
        });
      }
    } else if (event.type === "pipeline.continued" && event.name) {
      // A setup pipeline's continuation: the workflow it added is pending.
      this.post(conn, pipeline.sha, {
        state: "pending",
        target_url,
        context: `cairn/${event.name}`,
        description: `Pipeline #${pipeline.number}: ${event.name} is queued`,
      });
    } else if (event.name) {
      const state = STATE[event.status] ?? "error";
      this.post(conn, pipeline.sha, {
        state,
        target_url,
        context: `cairn/${event.name}`,
        description: `Pipeline #${pipeline.number}: ${event.name} ${event.status === "failed" ? "failed" : event.status === "success" ? "passed" : "was canceled"}`,
      });
    }
  }

  private post(conn: GithubConnection, sha: string, status: Parameters<typeof createStatus>[2]): void {
    const key = `${conn.apiUrl} ${conn.repo} ${sha} ${status.context}`;
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => withRetry(() => createStatus(conn, sha, status), this.opts.retry ?? DEFAULT_RETRY))
      .then(
        () => {},
        (err) =>
          this.opts.log?.(
            `commit status ${status.context}=${status.state} for ${sha.slice(0, 12)} not posted: ${(err as Error).message}`,
          ),
      )
      .finally(() => {
        if (this.queues.get(key) === next) this.queues.delete(key);
      });
    this.queues.set(key, next);
  }
}

/**
 * A pushed commit whose config cannot run (invalid, missing) gets one `error` status, `cairn`, so the
 * forge shows why nothing was built. Fire and forget, retried like the others.
 */
export function reportConfigError(
  conn: GithubConnection,
  sha: string,
  message: string,
  target_url: string,
  opts: { retry?: RetryPolicy; log?: (msg: string) => void } = {},
): void {
  const status = {
    state: "error" as const,
    target_url,
    context: "cairn",
    description: message.split("\n").slice(0, 2).join(" "),
  };
  withRetry(() => createStatus(conn, sha, status), opts.retry ?? DEFAULT_RETRY).catch((err) =>
    opts.log?.(`commit status cairn=error for ${sha.slice(0, 12)} not posted: ${(err as Error).message}`),
  );
}
