// Triggering a pipeline through the API, once per `Idempotency-Key`: the key is claimed before
// anything is made, so of two requests racing with one key one creates and the other replays it.
// The answer comes before any git work: the pipeline is `created` and its setup (fetching,
// planning) queued on pipeline-setup.ts; an invalid config shows later, as the pipeline's `error`.
import { and, eq, lt } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { pipelineRequests } from "../db/schema.ts";
import { BadRequest, Conflict } from "../errors.ts";
import type { PipelineSetup } from "./pipeline-setup.ts";
import { openPipeline, type TriggerInput } from "./pipelines.ts";
import type { Project } from "./projects.ts";
import { findPipeline, type PipelineRow } from "./runs.ts";

/** How long an `Idempotency-Key` answers with its first pipeline. */
const IDEMPOTENCY_MS = 24 * 60 * 60 * 1000;

export interface TriggerDeps {
  db: Db;
  setup: Pick<PipelineSetup, "enqueue">;
}

/** Checks a trigger's refs and key before anything is claimed. */
export function checkTrigger(input: TriggerInput, idempotencyKey: string | undefined): void {
  const { branch, sha, tag } = input;
  if ([branch, sha, tag].filter(Boolean).length > 1 && !(sha && tag)) {
    throw new BadRequest(
      "give one of `branch`, `tag` or `sha` (or `sha` with its `tag`)",
      undefined,
      "invalid_body",
    );
  }
  if (tag && (tag.startsWith("-") || tag.includes("..") || /\s/.test(tag))) {
    throw new BadRequest("`tag` is not a valid tag name", { field: "tag" });
  }
  if (idempotencyKey !== undefined && (idempotencyKey.length === 0 || idempotencyKey.length > 255)) {
    throw new BadRequest(
      "`Idempotency-Key` must be 1 to 255 characters",
      undefined,
      "invalid_idempotency_key",
    );
  }
  if (branch && (branch.startsWith("-") || branch.includes(".."))) {
    throw new BadRequest("`branch` is not a valid branch name", { field: "branch" });
  }
}

/** A new pipeline, or with a key already used, the pipeline that key made (`replayed`). */
export async function triggerPipeline(
  deps: TriggerDeps,
  project: Project,
  input: TriggerInput,
  idempotencyKey?: string,
): Promise<{ pipeline: PipelineRow; replayed: boolean }> {
  const { db } = deps;
  checkTrigger(input, idempotencyKey);
  const keyed = and(
    eq(pipelineRequests.projectId, project.id),
    eq(pipelineRequests.key, idempotencyKey ?? ""),
  );
  if (idempotencyKey) {
    await db.delete(pipelineRequests).where(lt(pipelineRequests.createdAt, Date.now() - IDEMPOTENCY_MS));
    const claimed = await db
      .insert(pipelineRequests)
      .values({ projectId: project.id, key: idempotencyKey, pipelineId: "" })
      .onConflictDoNothing();
    if (claimed.rowsAffected === 0) {
      const seen = await db.query.pipelineRequests.findFirst({ where: keyed });
      const p = seen?.pipelineId ? await findPipeline(db, seen.pipelineId) : undefined;
      if (!p)
        throw new Conflict(
          "a request with this Idempotency-Key is still being processed",
          { key: idempotencyKey },
          "idempotency_key_in_use",
        );
      return { pipeline: p, replayed: true };
    }
  }
  let created: Awaited<ReturnType<typeof openPipeline>>;
  try {
    created = await openPipeline(db, project, input);
  } catch (err) {
    // Nothing was created: the key is free for a retry.
    if (idempotencyKey) await db.delete(pipelineRequests).where(keyed);
    throw err;
  }
  if (idempotencyKey) await db.update(pipelineRequests).set({ pipelineId: created.id }).where(keyed);
  // Its `pipeline.setup` events, `created` first, come from the setup: one commit fewer to answer.
  deps.setup.enqueue(created);
  return { pipeline: created, replayed: false };
}
