// The work a trigger's answer does not wait for: fetching the mirror, reading and planning the
// config (pipelines.ts `setUpPipeline`). An in-process queue with bounded concurrency; the
// pipeline's state is the queue's record, so a server started with pipelines still in setup
// resumes them (`resume`). Each step is an event (`pipeline.setup`, status `fetching`/`planning`);
// the end is `pipeline.created` (status `queued`) as for a pipeline made at once, or
// `pipeline.finished` (status `error`).
import { inArray } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { pipelines } from "../db/schema.ts";
import type { SourcePort } from "../source/git-mirror.ts";
import type { EventLog } from "./events.ts";
import { SETUP_STATES, setUpPipeline, type TemplateTable } from "./pipelines.ts";
import type { Scheduler } from "./scheduler.ts";

export interface SetupDeps {
  db: Db;
  source: SourcePort;
  templates: TemplateTable;
  events: Pick<EventLog, "emit">;
  scheduler: Pick<Scheduler, "notify">;
}

/** Setups running at once: each is mostly waiting on git, but two fetches already fill 2 cores. */
const CONCURRENCY = 4;

export class PipelineSetup {
  private readonly waiting: { id: string; projectId: string }[] = [];
  private running = 0;
  /** Each queued or running setup's end, for a caller that chose to wait (`Prefer: wait`). */
  private readonly ends = new Map<string, { promise: Promise<void>; resolve: () => void }>();

  constructor(
    private readonly deps: SetupDeps,
    private readonly concurrency = CONCURRENCY,
  ) {}

  /** Queues an opened pipeline's setup; resolves at once. */
  enqueue(pipeline: { id: string; projectId: string }): void {
    if (this.ends.has(pipeline.id)) return;
    let resolve = () => {};
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.ends.set(pipeline.id, { promise, resolve });
    this.waiting.push(pipeline);
    this.pump();
  }

  /** Resolves when the pipeline's setup has ended (at once if it is not queued here). */
  settled(pipelineId: string): Promise<void> {
    return this.ends.get(pipelineId)?.promise ?? Promise.resolve();
  }

  /** Queues every pipeline a stopped server left in setup, oldest first. Returns how many. */
  async resume(): Promise<number> {
    const pending = await this.deps.db
      .select({ id: pipelines.id, projectId: pipelines.projectId })
      .from(pipelines)
      .where(inArray(pipelines.status, [...SETUP_STATES]))
      .orderBy(pipelines.createdAt);
    for (const p of pending) this.enqueue(p);
    return pending.length;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const next = this.waiting.shift()!;
      this.running++;
      this.run(next)
        .catch((err) => console.error(`pipeline ${next.id} setup failed:`, err))
        .finally(() => {
          this.running--;
          this.ends.get(next.id)?.resolve();
          this.ends.delete(next.id);
          this.pump();
        });
    }
  }

  private async run(p: { id: string; projectId: string }): Promise<void> {
    const { events } = this.deps;
    const event = { project_id: p.projectId, pipeline_id: p.id };
    await events.emit({ type: "pipeline.setup", ...event, status: "created" });
    const ended = await setUpPipeline(this.deps, p.id, (status) =>
      events.emit({ type: "pipeline.setup", ...event, status }),
    );
    if (ended === "error") await events.emit({ type: "pipeline.finished", ...event, status: "error" });
    else if (ended !== "gone") {
      await events.emit({ type: "pipeline.created", ...event, status: ended });
      this.deps.scheduler.notify();
    }
  }
}
