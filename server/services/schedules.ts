// Schedules a project's pipelines run on, fired by the server itself (schedule-runner.ts).
// Project schedules (CircleCI's "scheduled pipelines") are made through the API by a user with write
// access and trigger as that user; config schedules are the `triggers: - schedule:` of a workflow,
// one row per branch, kept in step with the config each time a pipeline reads it on that branch.
import { and, asc, eq, ne } from "drizzle-orm";
import { CronError, nextFire, parseCron } from "../circleci/cron.ts";
import { runs } from "../circleci/filters.ts";
import type { ProcessedWorkflow } from "../circleci/model.ts";
import type { Db } from "../db/client.ts";
import { schedules, users } from "../db/schema.ts";
import { BadRequest, Conflict, NotFound } from "../errors.ts";
import { audit } from "./audit.ts";
import { iso, newId } from "./ids.ts";

export type ScheduleRow = typeof schedules.$inferSelect;

/**
 * CircleCI's timetable (snake_case here): `per_hour` runs a fire that many times an hour, evenly
 * spaced from minute 0, at each of `hours_of_day` (UTC), on `days_of_week` and/or `days_of_month`
 * (a day matching either), in `months` (all when absent). Or a five-field `cron` string (UTC).
 */
export interface Timetable {
  cron?: string;
  per_hour?: number;
  hours_of_day?: number[];
  days_of_week?: string[];
  days_of_month?: number[];
  months?: string[];
}

export interface ScheduleInput {
  name?: string;
  description?: string;
  timetable?: Timetable;
  branch?: string | null;
  tag?: string | null;
  parameters?: Record<string, string | number | boolean>;
}

const NAME = /^[\w .:/@-]{1,100}$/;
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

const invalid = (field: string, message: string) => new BadRequest(message, { field }, "invalid_body");

/** The cron a timetable means; a 400 naming the field when it means nothing. */
export function timetableCron(t: Timetable): string {
  const keys = Object.keys(t);
  if (t.cron !== undefined) {
    if (keys.length !== 1)
      throw invalid("timetable", "`timetable` takes either `cron` or per_hour/hours_of_day/days, not both");
    try {
      parseCron(t.cron);
    } catch (err) {
      if (err instanceof CronError) throw invalid("timetable.cron", `\`timetable.cron\`: ${err.message}`);
      throw err;
    }
    return t.cron.trim();
  }
  const perHour = t.per_hour;
  if (perHour === undefined || !Number.isInteger(perHour) || perHour < 1 || perHour > 60)
    throw invalid(
      "timetable.per_hour",
      "`timetable.per_hour` must be a whole number from 1 to 60 (or give `cron`)",
    );
  const list = <T>(field: keyof Timetable, v: T[] | undefined, ok: (x: T) => boolean, what: string) => {
    if (v === undefined) return undefined;
    if (v.length === 0 || !v.every(ok))
      throw invalid(`timetable.${field}`, `\`timetable.${field}\` lists ${what}`);
    return v;
  };
  const hours = list(
    "hours_of_day",
    t.hours_of_day,
    (h) => Number.isInteger(h) && h >= 0 && h <= 23,
    "hours 0-23",
  );
  if (!hours)
    throw invalid("timetable.hours_of_day", "`timetable.hours_of_day` is required: hours 0-23 (UTC)");
  const dow = list("days_of_week", t.days_of_week, (d) => DAYS.includes(d), "days MON, TUE, … SUN");
  const dom = list(
    "days_of_month",
    t.days_of_month,
    (d) => Number.isInteger(d) && d >= 1 && d <= 31,
    "days of the month 1-31",
  );
  if (!dow && !dom)
    throw invalid("timetable", "`timetable` needs `days_of_week` or `days_of_month` (or give `cron`)");
  const months = list("months", t.months, (m) => MONTHS.includes(m), "months JAN, FEB, … DEC");
  const minutes = [...new Set(Array.from({ length: perHour }, (_, i) => Math.floor((i * 60) / perHour)))];
  const cron = [
    minutes.join(","),
    hours.join(","),
    dom ? dom.join(",") : "*",
    months ? months.join(",") : "*",
    dow ? dow.join(",") : "*",
  ].join(" ");
  try {
    parseCron(cron);
  } catch (err) {
    if (err instanceof CronError) throw invalid("timetable", `\`timetable\` never fires: ${err.message}`);
    throw err;
  }
  return cron;
}

function checkRef(field: "branch" | "tag", v: string): string {
  if (!v || v.startsWith("-") || v.includes("..") || /\s/.test(v) || v.length > 255)
    throw invalid(field, `\`${field}\` is not a valid ${field} name`);
  return v;
}

export interface Actor {
  id: string;
  ip?: string | null;
}

export async function createSchedule(
  db: Db,
  actor: Actor,
  project: { id: string; defaultBranch: string },
  input: ScheduleInput,
  now: number,
): Promise<ScheduleRow> {
  const name = input.name?.trim() ?? "";
  if (!NAME.test(name)) throw invalid("name", "`name` is 1 to 100 letters, digits, spaces and . : / @ _ -");
  const timetable = input.timetable;
  if (!timetable) throw invalid("timetable", "`timetable` is required");
  const cron = timetableCron(timetable);
  if (input.branch && input.tag) throw invalid("tag", "give `branch` or `tag`, not both");
  const tag = input.tag ? checkRef("tag", input.tag) : null;
  const branch = tag ? null : checkRef("branch", input.branch ?? project.defaultBranch);
  return db.transaction(async (tx) => {
    const taken = await tx.query.schedules.findFirst({
      where: and(eq(schedules.projectId, project.id), eq(schedules.source, "api"), eq(schedules.name, name)),
    });
    if (taken)
      throw new Conflict(`a schedule named ${name} already exists`, { id: taken.id }, "schedule_exists");
    const [row] = await tx
      .insert(schedules)
      .values({
        id: newId(),
        projectId: project.id,
        source: "api",
        name,
        description: input.description ?? "",
        cron,
        timetable: timetable.cron === undefined ? JSON.stringify(timetable) : null,
        branch,
        tag,
        parameters: JSON.stringify(input.parameters ?? {}),
        actorId: actor.id,
        nextRunAt: nextFire(parseCron(cron), now) as number,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    await audit(tx, {
      actor: { type: "user", id: actor.id },
      action: "schedule.created",
      target: { type: "schedule", id: row.id },
      ip: actor.ip ?? null,
      details: { project_id: project.id, name, cron, branch, tag },
    });
    return row;
  });
}

/** A project schedule of this project; config schedules are changed in the config, not here. */
async function apiSchedule(db: Db, projectId: string, id: string): Promise<ScheduleRow> {
  const row = await db.query.schedules.findFirst({
    where: and(eq(schedules.id, id), eq(schedules.projectId, projectId)),
  });
  if (!row) throw new NotFound("schedule", id);
  if (row.source === "config")
    throw new Conflict(
      `schedule ${row.name} comes from the config's \`triggers:\` on branch ${row.branch}: change it there`,
      { id, workflow: row.workflow, branch: row.branch },
      "schedule_from_config",
    );
  return row;
}

/** Changes what is given; the schedule then triggers as the user who changed it (CircleCI's "current" actor). */
export async function updateSchedule(
  db: Db,
  actor: Actor,
  projectId: string,
  id: string,
  input: ScheduleInput,
  now: number,
): Promise<ScheduleRow> {
  const row = await apiSchedule(db, projectId, id);
  const set: Partial<ScheduleRow> = { actorId: actor.id, updatedAt: now };
  if (input.name !== undefined) {
    const name = input.name.trim();
    if (!NAME.test(name)) throw invalid("name", "`name` is 1 to 100 letters, digits, spaces and . : / @ _ -");
    set.name = name;
  }
  if (input.description !== undefined) set.description = input.description;
  if (input.timetable !== undefined) {
    set.cron = timetableCron(input.timetable);
    set.timetable = input.timetable.cron === undefined ? JSON.stringify(input.timetable) : null;
    set.nextRunAt = nextFire(parseCron(set.cron), now) as number;
  }
  if (input.branch && input.tag) throw invalid("tag", "give `branch` or `tag`, not both");
  if (input.branch) Object.assign(set, { branch: checkRef("branch", input.branch), tag: null });
  if (input.tag) Object.assign(set, { tag: checkRef("tag", input.tag), branch: null });
  if (input.parameters !== undefined) set.parameters = JSON.stringify(input.parameters);
  return db.transaction(async (tx) => {
    if (set.name && set.name !== row.name) {
      const taken = await tx.query.schedules.findFirst({
        where: and(
          eq(schedules.projectId, projectId),
          eq(schedules.source, "api"),
          eq(schedules.name, set.name),
          ne(schedules.id, id),
        ),
      });
      if (taken)
        throw new Conflict(
          `a schedule named ${set.name} already exists`,
          { id: taken.id },
          "schedule_exists",
        );
    }
    const [updated] = await tx.update(schedules).set(set).where(eq(schedules.id, id)).returning();
    await audit(tx, {
      actor: { type: "user", id: actor.id },
      action: "schedule.updated",
      target: { type: "schedule", id },
      ip: actor.ip ?? null,
      details: {
        project_id: projectId,
        name: updated.name,
        fields: Object.keys(input).filter((k) => (input as Record<string, unknown>)[k] !== undefined),
      },
    });
    return updated;
  });
}

export async function deleteSchedule(db: Db, actor: Actor, projectId: string, id: string): Promise<void> {
  const row = await apiSchedule(db, projectId, id);
  await db.transaction(async (tx) => {
    await tx.delete(schedules).where(eq(schedules.id, id));
    await audit(tx, {
      actor: { type: "user", id: actor.id },
      action: "schedule.deleted",
      target: { type: "schedule", id },
      ip: actor.ip ?? null,
      details: { project_id: projectId, name: row.name },
    });
  });
}

export async function getSchedule(db: Db, projectId: string, id: string): Promise<ScheduleRow> {
  const row = await db.query.schedules.findFirst({
    where: and(eq(schedules.id, id), eq(schedules.projectId, projectId)),
  });
  if (!row) throw new NotFound("schedule", id);
  return row;
}

/** Project schedules by name, then config schedules by workflow and branch. */
export async function listSchedules(db: Db, projectId: string): Promise<ScheduleRow[]> {
  return db
    .select()
    .from(schedules)
    .where(eq(schedules.projectId, projectId))
    .orderBy(asc(schedules.source), asc(schedules.name), asc(schedules.branch));
}

/**
 * Keeps a branch's config schedules in step with the config just read on it: one row per workflow
 * trigger whose branch filter accepts the branch. A row whose cron is unchanged keeps its next fire.
 */
export async function syncConfigSchedules(
  db: Db,
  projectId: string,
  branch: string,
  workflows: readonly ProcessedWorkflow[],
  now: number,
): Promise<void> {
  const want = new Map<string, { workflow: string; cron: string }>();
  for (const wf of workflows)
    for (const s of wf.schedules ?? [])
      if (runs({ branches: s.branches }, { branch, revision: "", parameters: {} }))
        want.set(`${wf.name}\n${s.cron}`, { workflow: wf.name, cron: s.cron });
  const mine = and(
    eq(schedules.projectId, projectId),
    eq(schedules.source, "config"),
    eq(schedules.branch, branch),
  );
  const have = await db.select().from(schedules).where(mine);
  if (have.length === 0 && want.size === 0) return;
  const kept = new Set<string>();
  for (const row of have) {
    const key = `${row.workflow}\n${row.cron}`;
    if (want.has(key) && !kept.has(key)) kept.add(key);
    else await db.delete(schedules).where(eq(schedules.id, row.id));
  }
  for (const [key, { workflow, cron }] of want) {
    if (kept.has(key)) continue;
    await db.insert(schedules).values({
      id: newId(),
      projectId,
      source: "config",
      name: workflow,
      cron,
      branch,
      workflow,
      nextRunAt: nextFire(parseCron(cron), now) as number,
      createdAt: now,
      updatedAt: now,
    });
  }
}

export interface ScheduleJson {
  id: string;
  project_id: string;
  name: string;
  description: string;
  source: "api" | "config";
  timetable: Timetable;
  cron: string;
  branch: string | null;
  tag: string | null;
  parameters: Record<string, unknown>;
  workflow: string | null;
  actor: { id: string; login: string | null } | null;
  next_run_at: string | null;
  last_run_at: string | null;
  last_pipeline_id: string | null;
  last_error: string | null;
  created_at: string | null;
  updated_at: string | null;
}

export async function presentSchedule(db: Db, row: ScheduleRow): Promise<ScheduleJson> {
  const user = row.actorId ? await db.query.users.findFirst({ where: eq(users.id, row.actorId) }) : undefined;
  return {
    id: row.id,
    project_id: row.projectId,
    name: row.name,
    description: row.description,
    source: row.source,
    timetable: row.timetable ? (JSON.parse(row.timetable) as Timetable) : { cron: row.cron },
    cron: row.cron,
    branch: row.branch,
    tag: row.tag,
    parameters: JSON.parse(row.parameters) as Record<string, unknown>,
    workflow: row.workflow,
    actor: row.actorId ? { id: row.actorId, login: user?.login ?? null } : null,
    next_run_at: iso(row.nextRunAt),
    last_run_at: iso(row.lastRunAt),
    last_pipeline_id: row.lastPipelineId,
    last_error: row.lastError,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}
