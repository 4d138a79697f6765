// For the scheduler's unit tests: a real libSQL file with the real log service and event log, a
// clock the test moves, builders with their own NaCl keys, and workflows seeded as rows.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { loadLogPipeline } from "../../../wasm/index.ts";
import { createFsBlobStore } from "../../blobs/fs.ts";
import type { JobSpec } from "../../circleci/types.ts";
import { openDb } from "../../db/client.ts";
import { builders, jobs, pipelines, projects, workflows } from "../../db/schema.ts";
import { LogService } from "../../logs/service.ts";
import { createKeyring, generateBuilderKeyPair, openBytes, seal } from "../../secrets/index.ts";
import { type CairnEvent, EventLog } from "../events.ts";
import { newId } from "../ids.ts";

/** A job of a seeded workflow: its name, and what differs from a one-step `machine` build job. */
export interface JobSeed {
  name: string;
  requires?: string[];
  type?: JobSpec["type"];
  requiresStatus?: JobSpec["requiresStatus"];
  resourceClass?: string;
  slices?: number;
  steps?: JobSpec["steps"];
  contexts?: string[];
}

export async function schedulerFixture() {
  const dir = mkdtempSync(join(tmpdir(), "cairn-scheduler-"));
  const { db, close: closeDb } = await openDb(`file:${join(dir, "cairn.db")}`);
  const keyring = await createKeyring(crypto.getRandomValues(new Uint8Array(32)));
  const logs = new LogService({
    db,
    factory: await loadLogPipeline(),
    blobs: createFsBlobStore(join(dir, "blobs")),
    sealer: { seal: (b, c) => seal(keyring, b, c), open: (e, c) => openBytes(keyring, e, c) },
  });
  const events = new EventLog(db);
  /** Every event emitted, in order. */
  const emitted: CairnEvent[] = [];
  events.subscribe((e) => emitted.push(e));
  let t = 1_000_000;
  const clock = {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
  let created = 0;

  /** A builder row, seen now, with its NaCl key pair (the secret half stays with the test). */
  async function builder(name = `b-${newId().slice(0, 8)}`) {
    const keys = generateBuilderKeyPair();
    const id = newId();
    await db
      .insert(builders)
      .values({ id, name, tokenHash: newId(), publicKey: keys.publicKey, lastSeenAt: clock.now() });
    return { id, ...keys };
  }

  /** A project with one pipeline and one workflow of these jobs (a slice each), queued in this order. */
  async function workflow(seeds: JobSeed[], opts: { project?: string } = {}) {
    const projectId = opts.project ?? newId();
    if (!opts.project)
      await db.insert(projects).values({ id: projectId, name: `p-${projectId}`, repoUrl: "/dev/null" });
    const pipelineId = newId();
    const workflowId = newId();
    await db.insert(pipelines).values({
      id: pipelineId,
      projectId,
      number: 1,
      sha: "a".repeat(40),
      branch: "main",
      configPath: ".circleci/config.yml",
    });
    await db.insert(workflows).values({ id: workflowId, pipelineId, name: "main" });
    const ids: Record<string, string[]> = {};
    for (const s of seeds) {
      const spec: JobSpec = {
        name: s.name,
        job: s.name,
        type: s.type ?? "build",
        executor: { kind: "machine" },
        steps: s.steps ?? [run("echo hi")],
        environment: { FROM_CONFIG: "yes" },
        workingDirectory: "~/project",
        parallelism: s.slices ?? 1,
        resourceClass: s.resourceClass,
        requires: s.requires ?? [],
        requiresStatus: s.requiresStatus,
        contexts: s.contexts ?? [],
      };
      for (let i = 0; i < (s.slices ?? 1); i++) {
        const id = newId();
        await db.insert(jobs).values({
          id,
          pipelineId,
          workflowId,
          projectId,
          name: s.name,
          spec: JSON.stringify(spec),
          requires: JSON.stringify(s.requires ?? []),
          template: "cairn-base",
          sliceIndex: i,
          sliceTotal: s.slices ?? 1,
          createdAt: ++created,
        });
        ids[s.name] = [...(ids[s.name] ?? []), id];
      }
    }
    /** The id of the job's (first) slice. */
    const job = (name: string) => ids[name][0];
    return { projectId, pipelineId, workflowId, ids, job };
  }

  const jobRow = async (id: string) => (await db.query.jobs.findFirst({ where: eq(jobs.id, id) }))!;
  const statusOf = async (id: string) => (await jobRow(id)).status;
  const workflowStatus = async (id: string) =>
    (await db.query.workflows.findFirst({ where: eq(workflows.id, id) }))!.status;
  const pipelineStatus = async (id: string) =>
    (await db.query.pipelines.findFirst({ where: eq(pipelines.id, id) }))!.status;

  /** Closes the database once the logs of ended jobs are archived (that goes on in the background). */
  async function close() {
    for (const { id } of await db.select({ id: jobs.id }).from(jobs)) await logs.archived(id);
    closeDb();
  }

  return {
    db,
    close,
    emitted,
    logs,
    events,
    clock,
    builder,
    workflow,
    jobRow,
    statusOf,
    workflowStatus,
    pipelineStatus,
  };
}

/** A `run` step. */
export const run = (command: string): JobSpec["steps"][number] =>
  ({ type: "run", name: command, command, environment: {}, background: false }) as JobSpec["steps"][number];
