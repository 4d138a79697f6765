// store_artifacts: every file under `path` (or the one file) uploaded on its own, shown as
// `destination/relative-path`; store_test_results: JUnit XML files sent to the server, which parses them.
import type { Step } from "../../protocol/index.ts";
import { formatSize, readSpool, type StepContext, sandboxPath } from "./context.ts";
import { upload } from "./transfer.ts";

type StoreArtifacts = Extract<Step, { type: "store_artifacts" }>;
type StoreTestResults = Extract<Step, { type: "store_test_results" }>;

/** Files per step: past this the step fails rather than upload a runaway tree file by file. */
export const MAX_FILES = 5000;
const MAX_JUNIT_BYTES = 32 * 1024 * 1024;

/** Lists regular files under $1 (relative, NUL-separated), or `.` alone when $1 is a file; exit 4 when neither. */
const LIST = [
  'if [ -d "$1" ]; then cd "$1" && find . -type f -print0',
  'elif [ -f "$1" ]; then printf ".\\0"',
  'else echo "cairn: $1: no such file or directory" >&2; exit 4; fi',
].join("\n");

async function listFiles(ctx: StepContext, abs: string): Promise<string[] | null> {
  try {
    const bytes = await readSpool(await ctx.sandbox.capture(LIST, [abs]), 16 * 1024 * 1024);
    return new TextDecoder()
      .decode(bytes)
      .split("\0")
      .filter(Boolean)
      .map((p) => (p === "." ? "" : p.replace(/^\.\//, "")))
      .sort();
  } catch (err) {
    if (/no such file or directory/.test((err as Error).message)) return null;
    throw err;
  }
}

const joinPath = (dir: string, rel: string) => (rel ? `${dir}/${rel}` : dir);

export async function storeArtifacts(ctx: StepContext, step: StoreArtifacts): Promise<number> {
  const abs = sandboxPath(step.path, ctx.workdir, ctx.sandbox.home);
  const files = await listFiles(ctx, abs);
  if (!files) {
    ctx.note(`Warning: store_artifacts: ${step.path} matched no files; no artifacts stored.`);
    return 0;
  }
  if (files.length > MAX_FILES)
    throw new Error(`${step.path} holds ${files.length} files; at most ${MAX_FILES} per step`);
  const single = files.length === 1 && files[0] === "";
  // CircleCI's default destination: the path as written (a file keeps its name).
  const prefix = (step.destination ?? step.path.replace(/^~\/?/, "")).replace(/^\/+|\/+$/g, "");
  let total = 0;
  for (const rel of files) {
    const shown = single
      ? step.destination
        ? joinPath(prefix, abs.slice(abs.lastIndexOf("/") + 1))
        : prefix || abs.slice(abs.lastIndexOf("/") + 1)
      : joinPath(prefix, rel);
    const spool = await ctx.sandbox.capture('exec cat -- "$1"', [joinPath(abs, rel)]);
    total += spool.size;
    try {
      const url = await ctx.client.artifact(ctx.payload.job.id, shown.replace(/^\/+/, ""), spool.size);
      await upload(ctx, url, spool);
    } finally {
      await spool.remove();
    }
  }
  ctx.note(
    `Stored ${files.length} artifact${files.length === 1 ? "" : "s"} (${formatSize(total)}) from ${step.path}.`,
  );
  return 0;
}

export async function storeTestResults(ctx: StepContext, step: StoreTestResults): Promise<number> {
  const abs = sandboxPath(step.path, ctx.workdir, ctx.sandbox.home);
  const files = await listFiles(ctx, abs);
  if (!files) {
    ctx.note(`Warning: store_test_results: ${step.path} matched no files; no test results stored.`);
    return 0;
  }
  const reports = files.filter((f) => f === "" || f.toLowerCase().endsWith(".xml"));
  let tests = 0;
  let failures = 0;
  for (const rel of reports) {
    const path = joinPath(abs, rel);
    const xml = await readSpool(await ctx.sandbox.capture('exec cat -- "$1"', [path]), MAX_JUNIT_BYTES);
    try {
      const r = await ctx.client.testResults(ctx.payload.job.id, joinPath(step.path, rel), xml);
      tests += r.tests;
      failures += r.failures;
    } catch (err) {
      // A report we cannot read is a warning, as on CircleCI: the tests themselves decided the job.
      ctx.note(`Could not store ${joinPath(step.path, rel)}: ${(err as Error).message}`);
    }
  }
  ctx.note(
    `Stored ${tests} test result${tests === 1 ? "" : "s"} (${failures} failed) from ${reports.length} file${reports.length === 1 ? "" : "s"}.`,
  );
  return 0;
}
