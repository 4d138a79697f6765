// State changes for live builds lists, stored in the `events` table so that every server process
// on the database serves them and a client resumes from its last id. A local emit wakes local
// followers at once; events written by another process are picked up by polling.
import { and, asc, gt, inArray, lt, max } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { events } from "../db/schema.ts";

export type EventType =
  | "pipeline.created"
  /** A pipeline answered before its setup: `created`, `fetching`, `planning` (pipeline-setup.ts). */
  | "pipeline.setup"
  | "pipeline.finished"
  /** A setup pipeline was continued: one per workflow it gained (`workflow_id`, `name`). */
  | "pipeline.continued"
  | "workflow.finished"
  | "job.started"
  | "job.finished";

export interface CairnEvent {
  type: EventType;
  project_id: string;
  pipeline_id: string;
  workflow_id?: string;
  job_id?: string;
  name?: string;
  status: string;
}

export interface StoredEvent extends CairnEvent {
  id: number;
  at: string;
}

const KEEP_MS = 7 * 24 * 60 * 60 * 1000;

export class EventLog {
  private waiters = new Set<() => void>();
  private subscribers = new Set<(event: CairnEvent) => void>();

  constructor(private readonly db: Db) {}

  async emit(event: CairnEvent): Promise<void> {
    await this.db
      .insert(events)
      .values({ type: event.type, projectId: event.project_id, body: JSON.stringify(event) });
    for (const w of this.waiters) w();
    this.waiters.clear();
    for (const s of this.subscribers) {
      try {
        s(event);
      } catch {} // a subscriber (commit statuses) must never fail the state change that emitted
    }
  }

  /** Called with every event this process emits, after it is stored; returns the unsubscribe. */
  subscribe(fn: (event: CairnEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Events after `afterId`, oldest first; `projects` limits them to projects the reader may see. */
  async since(afterId: number, projects: string[] | null, limit = 500): Promise<StoredEvent[]> {
    const where = projects
      ? and(gt(events.id, afterId), inArray(events.projectId, projects))
      : gt(events.id, afterId);
    const rows = await this.db.select().from(events).where(where).orderBy(asc(events.id)).limit(limit);
    return rows.map((r) => ({
      ...(JSON.parse(r.body) as CairnEvent),
      id: r.id,
      at: new Date(r.at).toISOString(),
    }));
  }

  /** The newest event id (a client that connects without one starts from here). */
  async latestId(): Promise<number> {
    const [row] = await this.db.select({ id: max(events.id) }).from(events);
    return row?.id ?? 0;
  }

  /** Resolves on a local emit, or after `ms` (to see other processes' events). */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  async prune(now = Date.now()): Promise<void> {
    await this.db.delete(events).where(lt(events.at, now - KEEP_MS));
  }
}
