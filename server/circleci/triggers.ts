// A workflow's `triggers: [{schedule: {cron, filters: {branches}}}]` (CircleCI's scheduled workflows):
// the workflow never runs for a push; the server fires it at each cron time (UTC) on every branch its
// filters accept (services/schedules.ts).
import { CronError, parseCron } from "./cron.ts";
import type { Diagnostics } from "./diagnostics.ts";
import { readFilters } from "./filters.ts";
import type { WorkflowSchedule } from "./model.ts";
import { describe, get, type YNode } from "./tree.ts";

export function readTriggers(node: YNode, where: string, diag: Diagnostics): WorkflowSchedule[] {
  const items = node.kind === "seq" ? node.items : [node];
  const out: WorkflowSchedule[] = [];
  for (const item of items) {
    const schedule = item.kind === "map" ? get(item, "schedule") : undefined;
    if (item.kind !== "map" || !schedule || item.entries.length !== 1) {
      diag.error(
        item.pos,
        `${where}: each trigger is \`- schedule: {cron, filters}\`, not ${describe(item)}`,
      );
      continue;
    }
    if (schedule.kind !== "map") {
      diag.error(
        schedule.pos,
        `${where}: \`schedule\` takes \`cron\` and \`filters\`, not ${describe(schedule)}`,
      );
      continue;
    }
    for (const e of schedule.entries)
      if (e.key !== "cron" && e.key !== "filters")
        diag.error(e.keyPos, `${where}: schedule: unknown key \`${e.key}\` (cron, filters)`);
    const cron = get(schedule, "cron");
    if (cron?.kind !== "scalar" || typeof cron.value !== "string") {
      diag.error(
        cron?.pos ?? schedule.pos,
        `${where}: a schedule needs \`cron\`, a five-field cron string (UTC)`,
      );
      continue;
    }
    try {
      parseCron(cron.value);
    } catch (err) {
      if (!(err instanceof CronError)) throw err;
      diag.error(cron.pos, `${where}: schedule cron ${JSON.stringify(cron.value)}: ${err.message}`);
      continue;
    }
    // CircleCI requires branch filters on a schedule: they say which branches it runs on.
    const f = get(schedule, "filters");
    const filters = f ? readFilters(f, where, diag) : undefined;
    if (!filters?.branches) {
      diag.error(
        f?.pos ?? schedule.pos,
        `${where}: a schedule needs \`filters: {branches: {only: [...]}}\`: the branches it runs on`,
      );
      continue;
    }
    out.push({ cron: cron.value, branches: filters.branches, pos: cron.pos });
  }
  return out;
}
