// For the log service's tests: a LogService on a fresh libSQL file with a sealing keyring, and a
// job row (with its project, pipeline and workflow) for it to log to.
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BlobStore } from "../blobs/types.ts";
import { type Db, openDb } from "../db/client.ts";
import { jobs, pipelines, projects, workflows } from "../db/schema.ts";
import { createKeyring, openBytes, seal } from "../secrets/index.ts";
import { type LogPipelineFactory, LogService, type LogServiceDeps } from "./service.ts";

/**
 * Every fixture's folder sits under one folder of this test process: each test file that makes
 * fixtures removes it after its tests (`afterAll(removeLogFixtures)`); one a killed run left (its
 * process gone) is removed by the next run's first fixture.
 */
let root: string | undefined;
function fixturesRoot(): string {
  if (root) return root;
  for (const name of readdirSync(tmpdir())) {
    const pid = /^cairn-logs-(\d+)-/.exec(name)?.[1];
    if (pid && !existsSync(`/proc/${pid}`)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
  root = mkdtempSync(join(tmpdir(), `cairn-logs-${process.pid}-`));
  return root;
}

/** Removes every fixture this process made (their databases with them). */
export function removeLogFixtures(): void {
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
}

/** A new database with one job; `make()` is a LogService over it, a new one per restarted server. */
export async function logServiceFixture(opts: {
  factory: LogPipelineFactory;
  blobs: (dir: string) => BlobStore;
  secrets?: string[];
  /** Further dependencies of each service `make()` returns (e.g. budgets, the collection port). */
  deps?: Partial<LogServiceDeps>;
}) {
  const dir = mkdtempSync(join(fixturesRoot(), "fixture-"));
  const { db } = await openDb(`file:${join(dir, "cairn.db")}`);
  const keyring = await createKeyring(crypto.getRandomValues(new Uint8Array(32)));
  const blobs = opts.blobs(dir);
  const make = () =>
    new LogService({
      db,
      factory: opts.factory,
      blobs,
      sealer: { seal: (b, c) => seal(keyring, b, c), open: (e, c) => openBytes(keyring, e, c) },
      secretsFor: async () => opts.secrets ?? [],
      ...opts.deps,
    });
  return { db, make, jobId: await seedJob(db) };
}

/** A job row to log to, with the rows it belongs to. */
export async function seedJob(db: Db): Promise<string> {
  const id = crypto.randomUUID();
  await db.insert(projects).values({ id, name: `p-${id}`, repoUrl: "/dev/null" });
  await db.insert(pipelines).values({ id, projectId: id, number: 1, sha: "0".repeat(40), configPath: "x" });
  await db.insert(workflows).values({ id, pipelineId: id, name: "w" });
  await db
    .insert(jobs)
    .values({ id, pipelineId: id, workflowId: id, projectId: id, name: "j", spec: "{}", template: "t" });
  return id;
}
