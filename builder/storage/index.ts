// The storage steps (caches, artifacts, test results, workspaces), one file per kind; job-runner.ts
// sends them here. Each returns the step's exit code; an error thrown fails the step with its message.
import type { Step } from "../../protocol/index.ts";
import { storeArtifacts, storeTestResults } from "./artifacts.ts";
import { restoreCache, saveCache } from "./cache.ts";
import type { StepContext } from "./context.ts";
import { attachWorkspace, persistToWorkspace } from "./workspace.ts";

export type { StepContext } from "./context.ts";
export { installHelpers } from "./helpers.ts";

export function isStorageStep(step: Step): boolean {
  return [
    "save_cache",
    "restore_cache",
    "store_artifacts",
    "store_test_results",
    "persist_to_workspace",
    "attach_workspace",
  ].includes(step.type);
}

export async function runStorageStep(ctx: StepContext, step: Step): Promise<number> {
  switch (step.type) {
    case "save_cache":
      return saveCache(ctx, step);
    case "restore_cache":
      return restoreCache(ctx, step);
    case "store_artifacts":
      return storeArtifacts(ctx, step);
    case "store_test_results":
      return storeTestResults(ctx, step);
    case "persist_to_workspace":
      return persistToWorkspace(ctx, step);
    case "attach_workspace":
      return attachWorkspace(ctx, step);
    default:
      throw new Error(`${step.type} is not a storage step`);
  }
}
