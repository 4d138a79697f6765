// `workflows:`: each job entry (with `requires`, `filters`, `context`, `type: approval`, `name`,
// `matrix`, `pre-steps`/`post-steps` and job arguments) becomes one or more concrete workflow jobs;
// `requires` must name jobs of the same workflow (or a matrix alias) and must not form a cycle.
import { evaluate, not } from "./conditions.ts";
import type { Diagnostics } from "./diagnostics.ts";
import { readFilters } from "./filters.ts";
import type { Invocation } from "./jobs.ts";
import {
  type Ctx,
  type Definition,
  ENTRY_KEYS,
  orbUse,
  type ProcessedWorkflow,
  type WorkflowJob,
} from "./model.ts";
import { interpolate, type Scope, substitute } from "./template.ts";
import { describe, get, type Pos, scalar, toPlain, type YEntry, type YMap, type YNode } from "./tree.ts";
import { readTriggers } from "./triggers.ts";
import { REQUIRED_STATUSES, type RequiredStatus } from "./types.ts";

const MAX_MATRIX = 256;
const WORKFLOW_KEYS = ["jobs", "triggers", "when", "unless", "max_auto_reruns"];

/** Expands `def` for one workflow job and returns its key in the processed `jobs:`. */
export type Instantiate = (def: Definition, inv: Invocation, name: string) => string;

interface Pending extends WorkflowJob {
  requiresAt: { name: string; pos: Pos; statuses?: RequiredStatus[] }[];
}

export function expandWorkflows(node: YNode, ctx: Ctx, instantiate: Instantiate): ProcessedWorkflow[] {
  const { diag } = ctx;
  if (node.kind !== "map") {
    diag.error(
      node.pos,
      `\`workflows\` must be a mapping of workflow names to workflows, not ${describe(node)}`,
    );
    return [];
  }
  const out: ProcessedWorkflow[] = [];
  for (const w of node.entries) {
    if (w.key === "version") continue; // `workflows: version: 2` is a 2.0 leftover, harmless
    const where = `workflow \`${w.key}\``;
    if (w.value.kind !== "map") {
      diag.error(w.value.pos, `${where} must be a mapping with \`jobs\`, not ${describe(w.value)}`);
      continue;
    }
    const wf = w.value;
    for (const e of wf.entries)
      if (!WORKFLOW_KEYS.includes(e.key))
        diag.error(e.keyPos, `${where}: unknown key \`${e.key}\` (allowed: ${WORKFLOW_KEYS.join(", ")})`);
    const triggers = get(wf, "triggers");
    const scheduled = triggers !== undefined;
    const schedules = triggers ? readTriggers(triggers, where, diag) : undefined;
    const jobs = workflowJobs(get(wf, "jobs"), wf.pos, where, ctx, instantiate);
    checkRequires(jobs, where, diag);
    const result: ProcessedWorkflow = {
      name: w.key,
      jobs: jobs.map(({ requiresAt: _, ...j }) => j),
      scheduled,
      ...(schedules ? { schedules } : {}),
      pos: w.keyPos,
    };
    const scope: Scope = { templated: ctx.v21, pipeline: ctx.pipeline, work: ctx.work };
    let enabled = true;
    for (const kind of ["when", "unless"] as const) {
      const c = get(wf, kind);
      if (!c) continue;
      if (!ctx.v21) diag.error(c.pos, `${where}: \`${kind}\` needs \`version: 2.1\``);
      const cond = substitute(c, scope, diag);
      const truth = kind === "when" ? evaluate(cond, diag) : not(evaluate(cond, diag));
      if (truth === "deferred") result[kind] = toPlain(cond);
      else if (!truth) enabled = false;
    }
    if (enabled) out.push(result);
  }
  return out;
}

function workflowJobs(
  list: YNode | undefined,
  pos: Pos,
  where: string,
  ctx: Ctx,
  instantiate: Instantiate,
): Pending[] {
  const { diag } = ctx;
  if (list?.kind !== "seq") {
    diag.error(list?.pos ?? pos, `${where} needs \`jobs\`, a list of job names`);
    return [];
  }
  const jobs: Pending[] = [];
  const aliases = new Map<string, string[]>();
  const unresolved = new Set<string>();
  for (const item of list.items) {
    let jobName: string;
    let cfg: YMap | undefined;
    let at: Pos;
    if (item.kind === "scalar" && typeof item.value === "string") {
      jobName = item.value;
      at = item.pos;
    } else if (
      item.kind === "map" &&
      item.entries.length === 1 &&
      (item.entries[0].value.kind === "map" || item.entries[0].value.kind === "scalar")
    ) {
      jobName = item.entries[0].key;
      at = item.entries[0].keyPos;
      const v = item.entries[0].value;
      if (v.kind === "map") cfg = v;
      else if (v.value !== null)
        diag.error(
          v.pos,
          `${where}: job \`${jobName}\` takes a mapping (requires, filters, …), not ${describe(v)}`,
        );
    } else {
      diag.error(item.pos, `${where}: each job is a name or \`name: {requires: …}\`, not ${describe(item)}`);
      continue;
    }
    const combos = matrixCombos(cfg ? get(cfg, "matrix") : undefined, jobName, ctx);
    const instances: string[] = [];
    for (const combo of combos) {
      if (ctx.work.exhausted) break; // reported; expanding the rest would only spend more
      const job = instance(jobName, cfg, at, combo, ctx, where, instantiate);
      if (job) {
        jobs.push(job);
        instances.push(job.name);
      } else {
        // Reported already; its dependents (by job name or by its `name:`) are not reported again.
        unresolved.add(jobName);
        const named = cfg && get(cfg, "name");
        if (named?.kind === "scalar" && named.value !== null) unresolved.add(String(named.value));
      }
    }
    if (combos[0]?.matrix) {
      const aliasNode = cfg && get(cfg, "matrix");
      const alias = aliasNode?.kind === "map" ? get(aliasNode, "alias") : undefined;
      const name = alias?.kind === "scalar" && alias.value !== null ? String(alias.value) : jobName;
      aliases.set(name, [...(aliases.get(name) ?? []), ...instances]);
    }
  }
  const names = new Set<string>();
  for (const j of jobs) {
    if (names.has(j.name))
      diag.error(j.pos, `${where} has two jobs named \`${j.name}\`; give one of them a different \`name:\``);
    names.add(j.name);
  }
  for (const j of jobs) {
    j.requires = [];
    for (const r of j.requiresAt) {
      const targets = names.has(r.name) ? [r.name] : aliases.get(r.name);
      if (targets) {
        j.requires.push(...targets);
        if (r.statuses) for (const t of targets) j.requiresStatus = { ...j.requiresStatus, [t]: r.statuses };
      } else if (!unresolved.has(r.name))
        diag.error(
          r.pos,
          `${where}: job \`${j.name}\` requires \`${r.name}\`, which is not a job in this workflow`,
        );
    }
    j.requires = [...new Set(j.requires)];
  }
  return jobs;
}

interface Combo {
  matrix?: Map<string, YNode>;
}

function matrixCombos(m: YNode | undefined, jobName: string, ctx: Ctx): Combo[] {
  const { diag } = ctx;
  if (!m) return [{}];
  const where = `job \`${jobName}\`: \`matrix\``;
  if (!ctx.v21) {
    diag.error(m.pos, `${where} needs \`version: 2.1\``);
    return [{}];
  }
  if (m.kind !== "map") {
    diag.error(m.pos, `${where} takes \`{parameters: …, exclude: …, alias: …}\`, not ${describe(m)}`);
    return [];
  }
  for (const e of m.entries)
    if (!["parameters", "exclude", "alias"].includes(e.key))
      diag.error(e.keyPos, `${where}: unknown key \`${e.key}\``);
  const params = get(m, "parameters");
  if (params?.kind !== "map" || params.entries.length === 0) {
    diag.error(
      (params ?? m).pos,
      `${where} needs \`parameters\`, a mapping of parameter names to lists of values`,
    );
    return [];
  }
  let combos: Map<string, YNode>[] = [new Map()];
  for (const p of params.entries) {
    if (p.value.kind !== "seq" || p.value.items.length === 0) {
      diag.error(
        p.value.pos,
        `${where}: parameter \`${p.key}\` must be a non-empty list of values, not ${describe(p.value)}`,
      );
      return [];
    }
    const values = p.value.items;
    if (combos.length * values.length > MAX_MATRIX) {
      diag.error(m.pos, `${where} makes more than ${MAX_MATRIX} jobs; split it`);
      return [];
    }
    combos = combos.flatMap((c) => values.map((v) => new Map([...c, [p.key, v]])));
  }
  const key = (c: Map<string, YNode>) => JSON.stringify([...c].map(([k, v]) => [k, toPlain(v)]));
  const exclude = get(m, "exclude");
  const excluded = new Set<string>();
  if (exclude) {
    if (exclude.kind !== "seq")
      diag.error(exclude.pos, `${where}: \`exclude\` must be a list of parameter combinations`);
    else {
      for (const x of exclude.items) {
        if (x.kind !== "map") {
          diag.error(
            x.pos,
            `${where}: each \`exclude\` item is a mapping of every matrix parameter to a value`,
          );
          continue;
        }
        const c = new Map(
          params.entries.map((p) => [p.key, get(x, p.key) ?? scalar(null, x.pos)] as [string, YNode]),
        );
        const k = key(c);
        // CircleCI ignores an exclusion that matches nothing; it is probably a leftover, so say so.
        if (!combos.some((cc) => key(cc) === k))
          diag.warn(x.pos, `${where}: this \`exclude\` combination is not in the matrix; it is ignored`);
        excluded.add(k);
      }
    }
  }
  return combos.filter((c) => !excluded.has(key(c))).map((matrix) => ({ matrix }));
}

function instance(
  jobName: string,
  cfg: YMap | undefined,
  at: Pos,
  combo: Combo,
  ctx: Ctx,
  where: string,
  instantiate: Instantiate,
): Pending | undefined {
  const { diag } = ctx;
  const scope: Scope = {
    templated: ctx.v21,
    pipeline: ctx.pipeline,
    work: ctx.work,
    ...(combo.matrix ? { matrix: combo.matrix } : {}),
  };
  const entries = cfg?.entries ?? [];
  const sub = (e: YEntry) => substitute(e.value, scope, diag);
  const str = (e: YEntry | undefined) =>
    e && e.value.kind === "scalar" && e.value.value !== null
      ? interpolate(String(e.value.value), e.value.pos, scope, diag)
      : undefined;
  const find = (k: string) => entries.find((e) => e.key === k);

  const defaultName = combo.matrix
    ? [jobName, ...[...combo.matrix.values()].map((v) => String(toPlain(v)))].join("-")
    : jobName;
  const name = str(find("name")) ?? defaultName;
  const typeEntry = find("type");
  const type = str(typeEntry);
  if (type !== undefined && type !== "approval")
    diag.error(
      typeEntry?.value.pos ?? at,
      `${where}: job \`${jobName}\`: \`type\` can only be approval, not ${JSON.stringify(type)}`,
    );
  const approval = type === "approval";

  const requiresAt: Pending["requiresAt"] = [];
  const req = find("requires");
  if (req) {
    const v = req.value;
    const items = v.kind === "seq" ? v.items : [v];
    for (const i of items) {
      if (i.kind === "scalar" && i.value !== null && typeof i.value !== "boolean")
        requiresAt.push({ name: interpolate(String(i.value), i.pos, scope, diag), pos: i.pos });
      else if (i.kind === "map" && i.entries.length === 1) {
        const e = i.entries[0];
        const statuses = requiredStatuses(e.value, `${where}: job \`${name}\`: requires \`${e.key}\``, diag);
        requiresAt.push({ name: interpolate(e.key, e.keyPos, scope, diag), pos: e.keyPos, statuses });
      } else
        diag.error(
          i.pos,
          `${where}: job \`${name}\`: \`requires\` lists job names (or \`name: [statuses]\`), not ${describe(i)}`,
        );
    }
  }
  const contexts: string[] = [];
  const ctxEntry = find("context");
  if (ctxEntry) {
    const v = sub(ctxEntry);
    const items = v.kind === "seq" ? v.items : [v];
    for (const i of items) {
      if (i.kind === "scalar" && typeof i.value === "string") contexts.push(i.value);
      else
        diag.error(
          i.pos,
          `${where}: job \`${name}\`: \`context\` is a context name or a list of them, not ${describe(i)}`,
        );
    }
  }
  const filtersEntry = find("filters");
  const filters = filtersEntry
    ? readFilters(sub(filtersEntry), `${where}: job \`${name}\``, diag)
    : undefined;
  const base = {
    name,
    type: approval ? ("approval" as const) : ("build" as const),
    requires: [],
    requiresAt,
    contexts,
    ...(filters ? { filters } : {}),
    pos: at,
  };
  if (approval) return { ...base, job: name };

  const def = ctx.jobs.get(jobName);
  if (!def) {
    diag.error(
      at,
      orbUse(ctx, "job", jobName) ??
        `${where}: unknown job \`${jobName}\`${ctx.jobs.size ? " (not defined under `jobs:`; approval jobs need `type: approval`)" : ""}`,
    );
    return undefined;
  }
  const args = entries.filter((e) => !ENTRY_KEYS.includes(e.key)).map((e) => ({ ...e, value: sub(e) }));
  if (combo.matrix) for (const [k, v] of combo.matrix) args.push({ key: k, keyPos: v.pos, value: v });
  const pre = find("pre-steps");
  const post = find("post-steps");
  const inv: Invocation = {
    args,
    pos: at,
    ...(pre ? { preSteps: sub(pre) } : {}),
    ...(post ? { postSteps: sub(post) } : {}),
  };
  return { ...base, job: instantiate(def, inv, name) };
}

function checkRequires(jobs: Pending[], where: string, diag: Diagnostics): void {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const state = new Map<string, "visiting" | "done">();
  const visit = (j: Pending, path: string[]): void => {
    if (state.get(j.name) === "done") return;
    if (state.get(j.name) === "visiting") {
      const cycle = [...path.slice(path.indexOf(j.name)), j.name];
      diag.error(j.pos, `${where}: jobs require each other in a cycle: ${cycle.join(" → ")}`);
      return;
    }
    state.set(j.name, "visiting");
    for (const r of j.requires) {
      const dep = byName.get(r);
      if (dep) visit(dep, [...path, j.name]);
    }
    state.set(j.name, "done");
  };
  for (const j of jobs) visit(j, []);
}

/** `{build: failed}`, `{build: [success, failed]}` or `{build: terminal}` (every status a job can end in). */
function requiredStatuses(v: YNode, where: string, diag: Diagnostics): RequiredStatus[] {
  const items = v.kind === "seq" ? v.items : [v];
  const out: RequiredStatus[] = [];
  for (const i of items) {
    const s = i.kind === "scalar" ? String(i.value) : "";
    if (s === "terminal" && v.kind !== "seq") out.push(...REQUIRED_STATUSES);
    else if ((REQUIRED_STATUSES as readonly string[]).includes(s)) out.push(s as RequiredStatus);
    else
      diag.error(
        i.pos,
        `${where}: a status is one of ${REQUIRED_STATUSES.join(", ")} (or \`terminal\` alone), not ${describe(i)}`,
      );
  }
  return out.length > 0 ? [...new Set(out)] : ["success"];
}
