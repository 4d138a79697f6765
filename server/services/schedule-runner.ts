// Fires due schedules from inside the server (no external cron). Each server process ticks; a fire is
// claimed by moving `next_run_at` on with a conditional UPDATE, so with several processes on one
// database each fire makes one pipeline. The next fire is the first cron time after now, never after
// the missed one: a server that was down fires a missed schedule once, not once per missed time.
import { and, asc, eq, lte } from "drizzle-orm";
import { nextFire, parseCron } from "../circleci/cron.ts";
import { projects, schedules, users } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { memberRole } from "./access.ts";
import { createPipeline } from "./pipelines.ts";
import type { ScheduleRow } from "./schedules.ts";

type Deps = Pick<AppDeps, "db" | "source" | "templates" | "events" | "scheduler">;

export interface Fired {
  schedule: string;
  pipeline: string | null;
  error: string | null;
}

/** At most this many fires per tick; the rest are still due at the next one. */
const BATCH = 50;

export class ScheduleRunner {
  private running: Promise<Fired[]> | null = null;

  constructor(
    private readonly deps: Deps,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Fires every schedule due at `now` once (by this process or another); returns those this one fired. */
  tick(now = this.clock()): Promise<Fired[]> {
    // One tick at a time per process: a slow fire (a large fetch) never overlaps the next tick.
    const run = (this.running ?? Promise.resolve([])).then(() => this.fireDue(now));
    this.running = run.catch(() => []);
    return run;
  }

  /** Ticks now (a schedule missed while the server was down fires once) and every `intervalMs`. */
  start(intervalMs = 15_000): () => void {
    const beat = () => this.tick().catch((err) => console.error("schedules tick failed:", err));
    beat();
    const timer = setInterval(beat, intervalMs);
    return () => clearInterval(timer);
  }

  private async fireDue(now: number): Promise<Fired[]> {
    const { db } = this.deps;
    const due = await db
      .select()
      .from(schedules)
      .where(lte(schedules.nextRunAt, now))
      .orderBy(asc(schedules.nextRunAt))
      .limit(BATCH);
    const fired: Fired[] = [];
    for (const row of due) {
      const next = nextFire(parseCron(row.cron), now) as number;
      const claimed = await db
        .update(schedules)
        .set({ nextRunAt: next, lastRunAt: now })
        .where(and(eq(schedules.id, row.id), eq(schedules.nextRunAt, row.nextRunAt)));
      if (claimed.rowsAffected !== 1) continue; // another process fired it
      const result = await this.fire(row);
      await db
        .update(schedules)
        .set({ lastPipelineId: result.pipeline, lastError: result.error })
        .where(eq(schedules.id, row.id));
      if (result.error) console.error(`schedule ${row.name} (${row.id}): ${result.error}`);
      fired.push(result);
    }
    return fired;
  }

  private async fire(row: ScheduleRow): Promise<Fired> {
    const { db } = this.deps;
    const failed = (error: string, pipeline: string | null = null): Fired => ({
      schedule: row.id,
      pipeline,
      error,
    });
    const project = await db.query.projects.findFirst({ where: eq(projects.id, row.projectId) });
    if (!project) return failed("the project no longer exists");
    if (!project.followed) return failed("the project is not followed: schedules do not run");
    let actor: { id: string; login: string } | null = null;
    if (row.source === "api") {
      const user = row.actorId ? await db.query.users.findFirst({ where: eq(users.id, row.actorId) }) : null;
      const role = user ? await memberRole(db, user, project.id) : null;
      if (!user || (role !== "write" && role !== "admin"))
        return failed(
          "its actor may no longer trigger pipelines in this project: save it again as someone who may",
        );
      actor = { id: user.id, login: user.login };
    }
    try {
      const created = await createPipeline(this.deps, project, {
        branch: row.branch ?? undefined,
        tag: row.tag ?? undefined,
        parameters: JSON.parse(row.parameters),
        trigger: "schedule",
        metadata: {
          schedule: { id: row.id, name: row.name, source: row.source, cron: row.cron },
          ...(actor ? { actor } : {}),
        },
        triggerSource: "scheduled_pipeline",
        schedule: { id: row.id, name: row.name },
        ...(row.source === "config" ? { scheduledWorkflows: [row.workflow ?? ""] } : {}),
      });
      await this.deps.events.emit({
        type: "pipeline.created",
        project_id: project.id,
        pipeline_id: created.id,
        status: "queued",
      });
      this.deps.scheduler.notify();
      return { schedule: row.id, pipeline: created.id, error: null };
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      // A config schedule lives as long as its branch: a deleted branch takes it along.
      if (row.source === "config" && err.code === "ref_not_found")
        await db.delete(schedules).where(eq(schedules.id, row.id));
      // An invalid config still leaves its `error` pipeline: the schedule links to it.
      const kept = (err.details as { pipeline?: { id: string } } | undefined)?.pipeline?.id ?? null;
      return failed(err.message, kept);
    }
  }
}
