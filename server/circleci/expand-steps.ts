// A job's `steps:` expanded: commands inlined with their arguments, `steps` parameters spliced in,
// `when`/`unless` steps decided (or kept, when they need pipeline values), built-ins normalised.
import { evaluate, not } from "./conditions.ts";
import { type Ctx, orbUse, type ProcessedStep } from "./model.ts";
import { inOrb, lookup } from "./orbs.ts";
import { bindParams } from "./params.ts";
import { BUILTIN_STEPS, builtinStep, UNSUPPORTED_STEPS } from "./steps.ts";
import { didYouMean } from "./suggest.ts";
import { substitute } from "./template.ts";
import { describe, get, type Pos, scalar, toPlain, type YNode } from "./tree.ts";

export const MAX_STEPS = 100_000;

/** `stack` holds the commands being expanded, to report recursion instead of looping. */
export function expandSteps(list: YNode, ctx: Ctx, where: string, stack: string[] = []): ProcessedStep[] {
  // One step written as a mapping instead of a one-item list: CircleCI accepts it (node orb 5.0.0 does it).
  if (list.kind === "map" && list.entries.length === 1)
    return expandSteps({ kind: "seq", pos: list.pos, items: [list] }, ctx, where, stack);
  if (list.kind !== "seq") {
    if (!(list.kind === "scalar" && list.value === null))
      ctx.diag.error(list.pos, `${where}: \`steps\` must be a list, not ${describe(list)}`);
    return [];
  }
  const out: ProcessedStep[] = [];
  for (const item of list.items) {
    // Commands that invoke commands several times can multiply; a job has a bounded number of steps.
    if (++ctx.steps.count > MAX_STEPS) {
      if (!ctx.steps.reported)
        ctx.diag.error(
          item.pos,
          `${where}: more than ${MAX_STEPS} steps after expanding commands; refusing the config`,
        );
      ctx.steps.reported = true;
      return out;
    }
    if (item.kind === "seq") {
      out.push(...expandSteps(item, ctx, where, stack)); // a `steps` parameter spliced in place
    } else if (item.kind === "scalar") {
      if (typeof item.value !== "string" || item.value === "")
        ctx.diag.error(item.pos, `${where}: a step is a name or a one-key mapping, not ${describe(item)}`);
      else out.push(...step(item.value, scalar(null, item.pos), item.pos, ctx, where, stack));
    } else if (item.entries.length !== 1) {
      ctx.diag.error(
        item.pos,
        `${where}: a step is a mapping with exactly one key, the step's name; found ${item.entries.length === 0 ? "none" : item.entries.map((e) => `\`${e.key}\``).join(", ")}`,
      );
    } else {
      const e = item.entries[0];
      out.push(...step(e.key, e.value, e.keyPos, ctx, where, stack));
    }
  }
  return out;
}

function step(name: string, arg: YNode, pos: Pos, ctx: Ctx, where: string, stack: string[]): ProcessedStep[] {
  const { diag } = ctx;
  if (BUILTIN_STEPS.has(name)) {
    const s = builtinStep(name, arg, pos, diag);
    return s ? [s] : [];
  }
  if (name in UNSUPPORTED_STEPS) {
    const why = `step \`${name}\`: ${UNSUPPORTED_STEPS[name]}`;
    diag.warn(pos, `${why}; the job ends not_run (the rest of the pipeline runs)`);
    ctx.blockers?.push(why);
    return [];
  }
  // The deprecated `deploy` step is a `run` step, as on CircleCI.
  if (name === "deploy") {
    diag.warn(pos, "the `deploy` step is deprecated: it runs as `run`");
    const s = builtinStep("run", arg, pos, diag);
    return s ? [s] : [];
  }
  if ((name === "when" || name === "unless") && ctx.v21) return conditional(name, arg, ctx, where, stack);
  // `- steps: << parameters.x >>`: the documented way to splice a steps parameter into a list.
  if (name === "steps" && ctx.v21 && (arg.kind === "seq" || (arg.kind === "scalar" && arg.value === null)))
    return expandSteps(arg, ctx, where, stack);
  const command = lookup(ctx.commands, name, ctx);
  if (command) {
    if (stack.includes(name)) {
      diag.error(pos, `command \`${name}\` invokes itself (${[...stack, name].join(" → ")})`);
      return [];
    }
    if (arg.kind !== "map" && !(arg.kind === "scalar" && arg.value === null)) {
      diag.error(arg.pos, `command \`${name}\` takes a mapping of parameters, not ${describe(arg)}`);
      return [];
    }
    ctx.used.add(`command:${name}`);
    const owner = `command \`${name}\``;
    const params = bindParams(command.specs, arg.kind === "map" ? arg.entries : [], owner, pos, diag);
    const body = get(command.node, "steps");
    if (!body) return [];
    const steps = substitute(
      body,
      { templated: true, params, owner, pipeline: ctx.pipeline, work: ctx.work },
      diag,
    );
    return inOrb(ctx, command.orb ?? ctx.orbScope, () =>
      expandSteps(steps, ctx, owner, [...stack, command.name]),
    );
  }
  const orb = orbUse(ctx, "step", name);
  if (orb) diag.error(pos, orb);
  else
    diag.error(
      pos,
      `${where}: unknown step \`${name}\`${didYouMean(name, [...BUILTIN_STEPS, ...ctx.commands.keys()]) || ` (not a built-in step${ctx.v21 ? " or a command under `commands:`" : "; commands need version 2.1"})`}`,
    );
  return [];
}

function conditional(
  kind: "when" | "unless",
  arg: YNode,
  ctx: Ctx,
  where: string,
  stack: string[],
): ProcessedStep[] {
  const usage = `\`${kind}\` takes \`{condition: …, steps: […]}\``;
  if (arg.kind !== "map") {
    ctx.diag.error(arg.pos, `${usage}, not ${describe(arg)}`);
    return [];
  }
  for (const e of arg.entries)
    if (e.key !== "condition" && e.key !== "steps")
      ctx.diag.error(e.keyPos, `${usage}; unknown key \`${e.key}\``);
  const condition = get(arg, "condition");
  const body = get(arg, "steps");
  if (!condition) ctx.diag.error(arg.pos, `${usage}; \`condition\` is missing`);
  if (!body) ctx.diag.error(arg.pos, `${usage}; \`steps\` is missing`);
  if (!condition || !body) return [];
  const truth = kind === "when" ? evaluate(condition, ctx.diag) : not(evaluate(condition, ctx.diag));
  // Expanded whichever way it goes, so that mistakes in a branch not taken are still reported.
  const steps = expandSteps(body, ctx, where, stack);
  if (truth === "deferred") return [{ type: kind, condition: toPlain(condition), steps }];
  return truth ? steps : [];
}
