// One job definition expanded for one invocation: its parameters bound, its body substituted, its
// executor resolved and its steps expanded (with a workflow's `pre-steps`/`post-steps` around them).
import { EXECUTOR_KEYS, type ExecutorParts, readExecutor, resolveExecutorRef } from "./executors.ts";
import { expandSteps } from "./expand-steps.ts";
import { type Ctx, type Definition, ENTRY_KEYS, type ProcessedJob, type ProcessedStep } from "./model.ts";
import { inOrb } from "./orbs.ts";
import { bindParams } from "./params.ts";
import { didYouMean } from "./suggest.ts";
import { substitute } from "./template.ts";
import { describe, get, type Pos, type YEntry, type YMap, type YNode } from "./tree.ts";

const JOB_KEYS = [
  ...EXECUTOR_KEYS,
  "executor",
  "steps",
  "parameters",
  "description",
  "parallelism",
  "circleci_ip_ranges",
  "retention",
  "type",
];

export interface Invocation {
  args: YEntry[];
  pos: Pos;
  preSteps?: YNode;
  postSteps?: YNode;
  /** Checking a definition on its own: required parameters get placeholders. */
  standalone?: boolean;
}

export function expandJob(def: Definition, inv: Invocation, ctx: Ctx): ProcessedJob {
  if (def.orb) ctx.usedOrbs.add(def.orb);
  // An orb job's bare names (its commands, its executors) resolve inside its orb; the workflow's
  // pre-steps and post-steps are the user's own, so they are expanded outside it.
  const pre = inv.preSteps ? expandSteps(inv.preSteps, ctx, `job \`${def.name}\` pre-steps`) : [];
  const post = inv.postSteps ? expandSteps(inv.postSteps, ctx, `job \`${def.name}\` post-steps`) : [];
  const job = inOrb(ctx, def.orb, () => expandJobBody(def, inv, ctx));
  return pre.length || post.length ? { ...job, steps: [...pre, ...job.steps, ...post] } : job;
}

function expandJobBody(def: Definition, inv: Invocation, ctx: Ctx): ProcessedJob {
  const { diag } = ctx;
  const owner = `job \`${def.name}\``;
  for (const e of def.node.entries) {
    if (!JOB_KEYS.includes(e.key))
      diag.error(
        e.keyPos,
        `${owner}: unknown key \`${e.key}\`${e.key === "branches" ? " (job-level branch filters are gone; use workflow `filters`)" : didYouMean(e.key, JOB_KEYS)}`,
      );
    else if ((e.key === "executor" || e.key === "parameters") && !ctx.v21)
      diag.error(e.keyPos, `${owner}: \`${e.key}\` needs \`version: 2.1\``);
  }
  const typeNode = get(def.node, "type");
  const type = typeNode?.kind === "scalar" ? typeNode.value : undefined;
  if (typeNode && type !== "no-op" && type !== "build")
    diag.error(typeNode.pos, `${owner}: \`type\` is build or no-op, not ${describe(typeNode)}`);
  if (type === "no-op") return noopJob(def, owner, ctx);
  const params = ctx.v21
    ? bindParams(def.specs, inv.args, owner, inv.pos, diag, inv.standalone, ENTRY_KEYS)
    : new Map();
  if (!ctx.v21 && inv.args.length > 0)
    diag.error(inv.args[0].keyPos, `${owner}: job parameters need \`version: 2.1\``);
  const bodyIn: YMap = {
    ...def.node,
    entries: def.node.entries.filter(
      (e) => e.key !== "parameters" && e.key !== "description" && e.key !== "type",
    ),
  };
  const body = substitute(
    bodyIn,
    { templated: ctx.v21, params, owner, pipeline: ctx.pipeline, work: ctx.work },
    diag,
  ) as YMap;

  let parts: ExecutorParts | undefined;
  const ref = get(body, "executor");
  const inline = readExecutor(body, owner, diag);
  if (ref && ctx.v21) {
    const kind = body.entries.find((e) => e.key === "docker" || e.key === "machine" || e.key === "macos");
    if (kind) diag.error(kind.keyPos, `${owner}: has both \`executor\` and \`${kind.key}\`; use one`);
    const resolved = resolveExecutorRef(ref, ctx, owner);
    // The job's own keys override the executor's; environments merge, the job's winning.
    if (resolved) {
      parts = {
        executor:
          inline.executor.kind === "none"
            ? { ...resolved.executor, ...(inline.shell ? { shell: inline.shell } : {}) }
            : inline.executor,
        environment: { ...resolved.environment, ...inline.environment },
        ...pick(resolved, inline, "workingDirectory"),
        ...pick(resolved, inline, "resourceClass"),
      };
    } else parts = inline;
  } else {
    parts = inline;
    if (inline.executor.kind === "none")
      diag.error(
        def.pos,
        `${owner} has no executor: give it \`docker\`, \`machine\`${ctx.v21 ? " or `executor`" : ""}`,
      );
  }

  const stepsNode = get(body, "steps");
  if (!stepsNode) diag.error(def.pos, `${owner} has no \`steps\``);
  const steps: ProcessedStep[] = [];
  const outer = ctx.blockers;
  const blockers: string[] = [];
  ctx.blockers = blockers;
  try {
    if (stepsNode) steps.push(...expandSteps(stepsNode, ctx, owner));
  } finally {
    ctx.blockers = outer;
  }
  const kind = parts?.executor.kind;
  if (kind === "macos" || kind === "windows")
    blockers.unshift(
      `${kind === "macos" ? "macOS" : "Windows"} executor: no builder here runs ${kind === "macos" ? "macOS" : "Windows"}`,
    );

  let parallelism = 1;
  const p = get(body, "parallelism");
  if (p) {
    if (p.kind === "scalar" && typeof p.value === "number" && Number.isInteger(p.value) && p.value >= 1)
      parallelism = p.value;
    else
      diag.error(p.pos, `${owner}: \`parallelism\` must be a whole number of at least 1, not ${describe(p)}`);
  }
  return {
    job: def.name,
    executor: parts?.executor ?? { kind: "none" },
    steps,
    environment: parts?.environment ?? {},
    workingDirectory: parts?.workingDirectory ?? "~/project",
    parallelism,
    ...(parts?.resourceClass !== undefined ? { resourceClass: parts.resourceClass } : {}),
    ...(blockers.length > 0 ? { cannotRun: [...new Set(blockers)].join("; ") } : {}),
  };
}

function pick<K extends "workingDirectory" | "resourceClass">(
  base: ExecutorParts,
  over: ExecutorParts,
  key: K,
): { [P in K]?: string } {
  const v = over[key] ?? base[key];
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: string };
}

/** `type: no-op`: a job that runs nothing (a gate for `requires`); executor and steps are not needed. */
function noopJob(def: Definition, owner: string, ctx: Ctx): ProcessedJob {
  for (const e of def.node.entries)
    if (!["type", "description", "parameters"].includes(e.key))
      ctx.diag.error(e.keyPos, `${owner}: a no-op job has no \`${e.key}\` (it runs nothing)`);
  return {
    job: def.name,
    executor: { kind: "none" },
    steps: [],
    environment: {},
    workingDirectory: "~/project",
    parallelism: 1,
    noop: true,
  };
}
