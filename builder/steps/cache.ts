// save_cache and restore_cache: one tar.gz per key, immutable once saved; restore tries each key as
// a prefix, in order, and unpacks the newest match where its paths were (absolute, from /).
import type { Step } from "../../server/protocol.ts";
import { expandCacheKey } from "./cache-key.ts";
import { formatSize, readSpool, type StepContext, sandboxPath } from "./context.ts";
import { download, packTree, unpackTree, upload } from "./transfer.ts";

type SaveCache = Extract<Step, { type: "save_cache" }>;
type RestoreCache = Extract<Step, { type: "restore_cache" }>;

export async function saveCache(ctx: StepContext, step: SaveCache): Promise<number> {
  const key = await expandCacheKey(ctx, step.key);
  const { client, payload } = ctx;
  // Paths are stored relative to / so a restore puts them back where they were. As on CircleCI, a
  // path that does not exist is a warning, and a cache with none of its paths is not saved.
  const wanted = step.paths.map((p) => ({ as: p, rel: sandboxPath(p, ctx.workdir).slice(1) || "." }));
  const present = new Set(
    await existing(
      ctx,
      wanted.map((w) => w.rel),
    ),
  );
  for (const w of wanted) if (!present.has(w.rel)) ctx.note(`Warning: ${w.as} does not exist; not cached.`);
  const paths = wanted.filter((w) => present.has(w.rel));
  if (paths.length === 0) {
    ctx.note(`Cache ${key} not saved: none of its paths exist.`);
    return 0;
  }
  const reserved = await client.cacheSave(payload.job.id, key);
  if (reserved.exists) {
    ctx.note(`Cache key ${key} already exists: caches are immutable, nothing saved.`);
    return 0;
  }
  ctx.note(`Saving cache ${key}: ${paths.map((w) => w.as).join(", ")}`);
  const spool = await packTree(
    ctx,
    "/",
    paths.map((w) => w.rel),
  );
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

/** Which of `paths` (relative to /) exist in the sandbox. */
async function existing(ctx: StepContext, paths: string[]): Promise<string[]> {
  const out = await readSpool(
    await ctx.sandbox.capture(
      'cd / && for p in "$@"; do if [ -e "$p" ] || [ -L "$p" ]; then printf "%s\\n" "$p"; fi; done',
      paths,
    ),
    1024 * 1024,
  );
  return new TextDecoder().decode(out).split("\n").filter(Boolean);
}
