// save_cache and restore_cache: one tar.gz per key, immutable once saved; restore tries each key as
// a prefix, in order, and unpacks the newest match where its paths were (absolute, from /).
import type { Step } from "../../protocol/index.ts";
import { expandCacheKey } from "./cache-key.ts";
import { formatSize, type StepContext, sandboxPath } from "./context.ts";
import { download, missingPaths, packTree, unpackTree, upload } from "./transfer.ts";

type SaveCache = Extract<Step, { type: "save_cache" }>;
type RestoreCache = Extract<Step, { type: "restore_cache" }>;

export async function saveCache(ctx: StepContext, step: SaveCache): Promise<number> {
  const key = await expandCacheKey(ctx, step.key);
  const { client, payload } = ctx;
  // Paths that match nothing are warnings, as on CircleCI; with none left there is nothing to save.
  const missing = new Set(
    await missingPaths(
      ctx,
      "/",
      step.paths.map((p) => sandboxPath(p, ctx.workdir, ctx.sandbox.home).slice(1) || "."),
    ),
  );
  const present = step.paths.filter(
    (p) => !missing.has(sandboxPath(p, ctx.workdir, ctx.sandbox.home).slice(1) || "."),
  );
  for (const p of step.paths.filter((p) => !present.includes(p)))
    ctx.note(`Warning: save_cache: ${p} matched no files; left out of cache ${key}.`);
  if (present.length === 0) {
    ctx.note(`Warning: save_cache: none of the paths exist; cache ${key} not saved.`);
    return 0;
  }
  const reserved = await client.cacheSave(payload.job.id, key);
  if (reserved.exists) {
    ctx.note(`Cache key ${key} already exists: caches are immutable, nothing saved.`);
    return 0;
  }
  // Paths are stored relative to / so a restore puts them back where they were.
  const paths = present.map((p) => sandboxPath(p, ctx.workdir, ctx.sandbox.home).slice(1) || ".");
  ctx.note(`Saving cache ${key}: ${present.join(", ")}`);
  const spool = await packTree(ctx, "/", paths);
  const size = spool.size;
  await upload(ctx, reserved, spool);
  const saved = await client.cacheCommit(payload.job.id, key, reserved.upload_id, size);
  ctx.note(
    saved
      ? `Saved cache ${key} (${formatSize(size)}).`
      : `Cache key ${key} was saved meanwhile by another job: kept that one.`,
  );
  return 0;
}

export async function restoreCache(ctx: StepContext, step: RestoreCache): Promise<number> {
  const keys: string[] = [];
  for (const k of step.keys) keys.push(await expandCacheKey(ctx, k));
  const hit = await ctx.client.cacheRestore(ctx.payload.job.id, keys);
  if (!hit) {
    ctx.note(`No cache found for ${keys.join(", ")}.`);
    return 0;
  }
  ctx.note(`Found cache ${hit.key} (${formatSize(hit.size)}); restoring.`);
  await unpackTree(ctx, "/", await download(ctx, hit));
  ctx.note(`Restored cache ${hit.key}.`);
  return 0;
}
