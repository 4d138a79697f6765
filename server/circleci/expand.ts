// The whole config expanded: top-level keys checked, definitions collected, every workflow job
// instantiated, and every definition checked even if nothing uses it. Run once by `parseConfig`
// (pipeline values unknown) and again by `planPipeline` (with the pipeline's values).
import { Work } from "./budget.ts";
import type { Diagnostics } from "./diagnostics.ts";
import { checkExecutorKeys, resolveExecutorRef } from "./executors.ts";
import { expandSteps } from "./expand-steps.ts";
import { expandJob } from "./jobs.ts";
import type { Ctx, Definition, ProcessedConfig, ProcessedJob, ProcessedWorkflow } from "./model.ts";
import { loadOrbs, type OrbTexts } from "./orbs.ts";
import { bindParams, type ParamSpecs, parseParamSpecs, placeholder } from "./params.ts";
import { didYouMean } from "./suggest.ts";
import { type Resolved, substitute } from "./template.ts";
import { describe, get, type Pos, scalar, toPlain, type YMap, type YNode } from "./tree.ts";
import type { PipelineValues } from "./types.ts";
import { expandWorkflows } from "./workflows.ts";

const V21_ONLY = ["orbs", "commands", "executors", "parameters"];
const TOP_LEVEL = ["version", "jobs", "workflows", "notify", "setup", ...V21_ONLY];

export function expandConfig(
  root: YNode,
  file: string,
  diag: Diagnostics,
  values?: PipelineValues,
  orbTexts?: OrbTexts,
  continuation = false,
): ProcessedConfig | undefined {
  if (root.kind !== "map") {
    diag.error(
      root.pos,
      `a config is a mapping with \`version\`, \`jobs\` and \`workflows\`, not ${describe(root)}`,
    );
    return undefined;
  }
  const version = readVersion(root, diag);
  if (!version) return undefined;
  const v21 = version === "2.1";
  for (const e of root.entries) {
    if (V21_ONLY.includes(e.key) && !v21) diag.error(e.keyPos, `\`${e.key}\` needs \`version: 2.1\``);
    if (!TOP_LEVEL.includes(e.key)) {
      // Other keys hold YAML anchors and are ignored, as on CircleCI; a near-miss is probably a typo.
      const hint = didYouMean(e.key, TOP_LEVEL);
      if (hint) diag.warn(e.keyPos, `top-level key \`${e.key}\` is ignored${hint}`);
    }
    if (e.key === "notify")
      diag.warn(
        e.keyPos,
        "`notify` webhooks are ignored: Cairn reports through commit statuses and its own API",
      );
  }
  const setup = readSetup(root, diag, continuation);
  const paramsNode = v21 ? get(root, "parameters") : undefined;
  const pipelineSpecs = parseParamSpecs(paramsNode, "pipeline", diag, true);
  const ctx: Ctx = {
    diag,
    v21,
    commands: v21 ? definitions(root, "commands", "command", diag) : new Map(),
    executors: v21 ? definitions(root, "executors", "executor", diag) : new Map(),
    jobs: definitions(root, "jobs", "job", diag, v21),
    orbs: new Map(),
    loadedOrbs: new Set(),
    usedOrbs: new Set(),
    used: new Set(),
    steps: { count: 0, reported: false },
    work: new Work(diag),
    pipeline: resolver(pipelineSpecs, paramsNode?.pos ?? root.pos, diag, values),
  };

  const orbs = v21 ? loadOrbs(root, ctx, orbTexts) : {};

  const jobs: Record<string, ProcessedJob> = {};
  const fingerprints = new Map<string, string>();
  const keep = (preferred: string, job: ProcessedJob): string => {
    const print = JSON.stringify(job);
    for (let n = 1; ; n++) {
      const key = n === 1 ? preferred : `${preferred}-${n}`;
      const existing = fingerprints.get(key);
      if (existing === undefined) {
        fingerprints.set(key, print);
        jobs[key] = job;
        return key;
      }
      if (existing === print) return key;
    }
  };
  const invoked = new Set<string>();
  const workflowsNode = get(root, "workflows");
  let workflows: ProcessedWorkflow[];
  if (workflowsNode) {
    workflows = expandWorkflows(workflowsNode, ctx, (def, inv, name) => {
      invoked.add(def.name);
      const plain = inv.args.length === 0 && !inv.preSteps && !inv.postSteps;
      return keep(plain ? def.name : name, expandJob(def, inv, ctx));
    });
  } else {
    // As on CircleCI: without `workflows`, the pipeline runs the job called `build`.
    const build = ctx.jobs.get("build");
    invoked.add("build");
    if (!build)
      diag.error(root.pos, "there is no `workflows` section and no job called `build` to run without one");
    workflows = build
      ? [
          {
            name: "workflow",
            jobs: [
              {
                name: "build",
                job: keep("build", expandJob(build, { args: [], pos: build.pos }, ctx)),
                type: "build",
                requires: [],
                contexts: [],
                pos: build.pos,
              },
            ],
            scheduled: false,
            pos: root.pos,
          },
        ]
      : [];
  }
  // Jobs no workflow runs are checked on their own (required parameters get placeholders), and still
  // appear, as `circleci config process` shows them, unless they need arguments.
  for (const def of ctx.jobs.values()) {
    if (invoked.has(def.name) || def.orb) continue; // an orb's jobs are checked where they are used
    const job = expandJob(def, { args: [], pos: def.pos, standalone: true }, ctx);
    if ([...def.specs.values()].every((s) => s.default)) keep(def.name, job);
  }
  checkUnused(ctx);
  for (const [alias, ref] of ctx.orbs)
    if (ctx.loadedOrbs.has(alias) && !ctx.usedOrbs.has(alias)) {
      const at = root.entries.find((e) => e.key === "orbs");
      const decl = at?.value.kind === "map" ? at.value.entries.find((e) => e.key === alias) : undefined;
      diag.warn(decl?.keyPos ?? root.pos, `orb \`${alias}\` (${ref}) is declared but never used`);
    }

  const pipelineParameters: ProcessedConfig["pipelineParameters"] = {};
  for (const s of pipelineSpecs.values())
    pipelineParameters[s.name] = {
      type: s.type,
      default: s.default ? toPlain(s.default) : null,
      ...(s.enum ? { enum: s.enum } : {}),
    };
  return {
    file,
    version,
    pipelineParameters,
    jobs,
    workflows,
    warnings: [],
    source: root,
    orbs,
    ...(orbTexts ? { orbTexts } : {}),
    ...(setup ? { setup } : {}),
    ...(continuation ? { continuation } : {}),
  };
}

/**
 * `setup: true`: the config's workflows are a setup phase whose jobs may continue the pipeline
 * once with another config (the continuation API). A continuation may not itself be a setup config.
 */
function readSetup(root: YMap, diag: Diagnostics, continuation: boolean): boolean {
  const node = get(root, "setup");
  if (!node) return false;
  if (node.kind !== "scalar" || typeof node.value !== "boolean") {
    diag.error(node.pos, `\`setup\` is true or false, not ${describe(node)}`);
    return false;
  }
  if (node.value && continuation)
    diag.error(
      node.pos,
      "a continuation config cannot itself be a setup config (`setup: true`): a pipeline continues once",
    );
  return node.value;
}

function readVersion(root: YMap, diag: Diagnostics): "2" | "2.1" | undefined {
  const v = get(root, "version");
  if (!v) {
    diag.error(root.pos, "`version` is missing: Cairn reads CircleCI configs of version 2 and 2.1");
    return undefined;
  }
  const s = v.kind === "scalar" ? String(v.value) : "";
  if (s === "2" || s === "2.0") return "2";
  if (s === "2.1") return "2.1";
  diag.error(
    v.pos,
    `version ${v.kind === "scalar" ? JSON.stringify(v.value) : describe(v)} is not supported: use 2 or 2.1`,
  );
  return undefined;
}

function definitions(
  root: YMap,
  key: string,
  kind: string,
  diag: Diagnostics,
  withParams = true,
): Map<string, Definition> {
  const out = new Map<string, Definition>();
  const node = get(root, key);
  if (!node || (node.kind === "scalar" && node.value === null)) return out;
  if (node.kind !== "map") {
    diag.error(
      node.pos,
      `\`${key}\` must be a mapping of ${kind} names to definitions, not ${describe(node)}`,
    );
    return out;
  }
  // CircleCI's schema: jobs start with a letter and may hold spaces (`Build Docs`); commands and
  // executors may not. Cairn also keeps `.` and a leading digit, which it always accepted.
  const pattern = kind === "job" ? /^[A-Za-z0-9][\w. -]*$/ : /^[A-Za-z0-9][\w.-]*$/;
  for (const e of node.entries) {
    if (!pattern.test(e.key))
      diag.error(
        e.keyPos,
        `${kind} name \`${e.key}\` may only use letters, digits, _, -${kind === "job" ? ", spaces" : ""} and .`,
      );
    if (e.value.kind !== "map") {
      diag.error(e.value.pos, `${kind} \`${e.key}\` must be a mapping, not ${describe(e.value)}`);
      continue;
    }
    const specs: ParamSpecs = withParams
      ? parseParamSpecs(get(e.value, "parameters"), `${kind} \`${e.key}\``, diag)
      : new Map();
    out.set(e.key, { name: e.key, node: e.value, specs, pos: e.keyPos });
  }
  return out;
}

/** Commands, executors and jobs nothing invoked are still checked, so their mistakes are reported too. */
function checkUnused(ctx: Ctx): void {
  for (const c of ctx.commands.values()) {
    if (c.orb) continue; // an orb's definitions are checked where they are used
    for (const e of c.node.entries) {
      if (!["steps", "parameters", "description"].includes(e.key))
        ctx.diag.error(
          e.keyPos,
          `command \`${c.name}\`: unknown key \`${e.key}\` (steps, parameters, description)`,
        );
    }
    if (!get(c.node, "steps")) ctx.diag.error(c.pos, `command \`${c.name}\` has no \`steps\``);
    if (ctx.used.has(`command:${c.name}`)) continue;
    const owner = `command \`${c.name}\``;
    const params = bindParams(c.specs, [], owner, c.pos, ctx.diag, true);
    const steps = get(c.node, "steps");
    if (steps) {
      const substituted = substitute(
        steps,
        { templated: true, params, owner, pipeline: ctx.pipeline, work: ctx.work },
        ctx.diag,
      );
      expandSteps(substituted, ctx, owner, [c.name]);
    }
  }
  for (const x of ctx.executors.values()) {
    if (x.orb) continue;
    checkExecutorKeys(x.node, `executor \`${x.name}\``, ctx.diag);
    if (ctx.used.has(`executor:${x.name}`)) continue;
    const args = [...x.specs.values()]
      .filter((s) => !s.default)
      .map((s) => ({ key: s.name, keyPos: s.pos, value: placeholder(s) }));
    const ref: YNode = {
      kind: "map",
      pos: x.pos,
      entries: [{ key: "name", keyPos: x.pos, value: scalar(x.name, x.pos) }, ...args],
    };
    resolveExecutorRef(ref, ctx, `executor \`${x.name}\``);
  }
}

/** `<< pipeline.* >>`: from `values` when planning; left in place (parameters: their defaults) when not. */
function resolver(
  specs: ParamSpecs,
  at: Pos,
  diag: Diagnostics,
  values?: PipelineValues,
): (path: string) => Resolved {
  if (values) {
    for (const [k, v] of Object.entries(values.parameters)) {
      const spec = specs.get(k);
      if (!spec)
        diag.error(at, `pipeline parameter \`${k}\` was given but is not declared under \`parameters:\``);
      else if (
        spec.type === "enum"
          ? !spec.enum?.includes(String(v))
          : spec.type === "integer"
            ? !Number.isInteger(v)
            : typeof v !== spec.type
      ) {
        diag.error(
          spec.pos,
          `pipeline parameter \`${k}\` must be ${spec.type === "enum" ? `one of ${spec.enum?.join(", ")}` : `a ${spec.type}`}, not ${JSON.stringify(v)}`,
        );
      }
    }
  }
  const known: Record<string, (v: PipelineValues) => string | number | undefined> = {
    id: (v) => v.id,
    number: (v) => v.number ?? 0,
    "git.branch": (v) => v.branch,
    "git.tag": (v) => v.tag,
    "git.revision": (v) => v.revision,
    "git.base_revision": (v) => v.baseRevision,
    "project.git_url": (v) => v.repoUrl,
    "project.type": (v) => (v.repoUrl?.includes("github") ? "github" : "git"),
    trigger_source: (v) => v.triggerSource ?? "webhook",
    "schedule.name": (v) => v.schedule?.name,
    "schedule.id": (v) => v.schedule?.id,
  };
  return (path) => {
    if (path.startsWith("parameters.")) {
      const spec = specs.get(path.slice("parameters.".length));
      if (!spec) return "unknown";
      const given = values?.parameters[spec.name];
      return {
        value: given !== undefined ? scalar(given, spec.pos) : (spec.default ?? scalar(null, spec.pos)),
      };
    }
    const f = known[path];
    if (!f) return "unknown";
    if (!values) return "unresolved";
    return { value: scalar(f(values) ?? "", at) };
  };
}
