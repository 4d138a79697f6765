// Config schedules follow the config read on their branch: added, kept (with their next fire) while
// unchanged, replaced when the cron changes, dropped when the workflow or its branch filter goes.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatError, parseConfig } from "../circleci/index.ts";
import { openDb } from "../db/client.ts";
import { projects } from "../db/schema.ts";
import { listSchedules, syncConfigSchedules } from "./schedules.ts";

const config = (cron: string | null, only = "main") => {
  const text = `version: 2.1
jobs:
  soak: {machine: true, steps: [{run: make soak}]}
workflows:
  nightly:
${cron ? `    triggers:\n      - schedule:\n          cron: "${cron}"\n          filters: {branches: {only: [${only}]}}\n` : ""}    jobs: [soak]
`;
  const r = parseConfig(text, "c.yml");
  expect(r.errors.map(formatError)).toEqual([]);
  return r.config!.workflows;
};

test("syncConfigSchedules keeps a branch's rows in step with its config", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cairn-schedules-"));
  const { db, close } = await openDb(`file:${join(dir, "cairn.db")}`);
  try {
    const projectId = crypto.randomUUID();
    await db.insert(projects).values({ id: projectId, name: "p", repoUrl: "/dev/null" });
    const now = Date.parse("2026-12-05T12:00:00Z");
    const rows = async () =>
      (await listSchedules(db, projectId)).map((r) => ({
        id: r.id,
        branch: r.branch,
        cron: r.cron,
        next: new Date(r.nextRunAt).toISOString(),
      }));

    await syncConfigSchedules(db, projectId, "main", config("0 3 * * *"), now);
    const [first] = await rows();
    expect(first).toMatchObject({ branch: "main", cron: "0 3 * * *", next: "2026-12-06T03:00:00.000Z" });
    // A branch the filter does not accept gets none.
    await syncConfigSchedules(db, projectId, "dev", config("0 3 * * *"), now);
    expect(await rows()).toHaveLength(1);

    // Unchanged: the same row, its next fire untouched by a later read.
    await syncConfigSchedules(db, projectId, "main", config("0 3 * * *"), now + 86_400_000);
    expect(await rows()).toEqual([first]);

    // A new cron replaces it; no trigger (or a filter that no longer matches) drops it.
    await syncConfigSchedules(db, projectId, "main", config("30 4 * * 1-5"), now);
    const [changed] = await rows();
    expect(changed.id).not.toBe(first.id);
    expect(changed).toMatchObject({ cron: "30 4 * * 1-5", next: "2026-12-07T04:30:00.000Z" });
    await syncConfigSchedules(db, projectId, "main", config("30 4 * * 1-5", "release"), now);
    expect(await rows()).toEqual([]);
    await syncConfigSchedules(db, projectId, "main", config("0 3 * * *"), now);
    await syncConfigSchedules(db, projectId, "main", config(null), now);
    expect(await rows()).toEqual([]);
  } finally {
    close();
    rmSync(dir, { recursive: true, force: true });
  }
});
