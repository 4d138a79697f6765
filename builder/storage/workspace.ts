// persist_to_workspace adds a tar.gz layer of `paths` under `root`; attach_workspace unpacks, oldest
// first, the layers of the jobs this one requires (the server picks them), at `at`.
import type { Step } from "../../protocol/index.ts";
import { formatSize, type StepContext, sandboxPath } from "./context.ts";
import { download, missingPaths, packTree, unpackTree, upload } from "./transfer.ts";

type Persist = Extract<Step, { type: "persist_to_workspace" }>;
type Attach = Extract<Step, { type: "attach_workspace" }>;

export async function persistToWorkspace(ctx: StepContext, step: Persist): Promise<number> {
  const root = sandboxPath(step.root, ctx.workdir, ctx.sandbox.home);
  const paths = step.paths.length ? step.paths : ["."];
  // As on CircleCI, a path that matches nothing fails the step: the jobs after it would miss it.
  const missing = await missingPaths(ctx, root, paths);
  if (missing.length)
    throw new Error(
      `persist_to_workspace: ${missing.map((p) => JSON.stringify(p)).join(", ")} matched no files under ${step.root}`,
    );
  const spool = await packTree(ctx, root, paths);
  const size = spool.size;
  const url = await ctx.client.workspacePersist(ctx.payload.job.id, size);
  await upload(ctx, url, spool);
  ctx.note(`Persisted ${step.paths.join(", ")} from ${step.root} to the workspace (${formatSize(size)}).`);
  return 0;
}

export async function attachWorkspace(ctx: StepContext, step: Attach): Promise<number> {
  const at = sandboxPath(step.at, ctx.workdir, ctx.sandbox.home);
  const { layers } = await ctx.client.workspaceAttach(ctx.payload.job.id);
  if (layers.length === 0) {
    ctx.note("The workspace is empty: no job this one requires persisted anything.");
    return 0;
  }
  for (const layer of layers) {
    await unpackTree(ctx, at, await download(ctx, layer));
    ctx.note(`Attached ${layer.job}'s layer (${formatSize(layer.size)}) at ${at}.`);
  }
  return 0;
}
