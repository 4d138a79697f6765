// Parameter declarations (`parameters:` of jobs, commands, executors and the pipeline) and binding
// the arguments of one invocation to them: types, defaults, required, enum values.
import type { Diagnostics } from "./diagnostics.ts";
import { didYouMean } from "./suggest.ts";
import { describe, get, type Pos, scalar, type YEntry, type YNode } from "./tree.ts";

export const PARAM_TYPES = [
  "string",
  "boolean",
  "integer",
  "enum",
  "steps",
  "executor",
  "env_var_name",
] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

export interface ParamSpec {
  name: string;
  type: ParamType;
  default?: YNode;
  enum?: string[];
  pos: Pos;
  /** The declaration itself is wrong (reported already): accept any value, to avoid a cascade of errors. */
  unchecked?: boolean;
}

export type ParamSpecs = Map<string, ParamSpec>;

const SPEC_KEYS = new Set(["type", "default", "description", "enum"]);

export function parseParamSpecs(
  node: YNode | undefined,
  owner: string,
  diag: Diagnostics,
  pipeline = false,
): ParamSpecs {
  const specs: ParamSpecs = new Map();
  if (!node) return specs;
  if (node.kind !== "map") {
    diag.error(
      node.pos,
      `${owner}: \`parameters\` must be a mapping of parameter names to definitions, not ${describe(node)}`,
    );
    return specs;
  }
  for (const e of node.entries) {
    const where = `${owner}: parameter \`${e.key}\``;
    if (!/^[A-Za-z][\w-]*$/.test(e.key))
      diag.error(e.keyPos, `${where}: names start with a letter and use letters, digits, _ and -`);
    const def = e.value;
    if (def.kind !== "map") {
      diag.error(
        def.pos,
        `${where} must be a mapping with \`type\` (and optionally \`default\`, \`description\`, \`enum\`)`,
      );
      continue;
    }
    for (const d of def.entries)
      if (!SPEC_KEYS.has(d.key))
        diag.error(
          d.keyPos,
          `${where}: unknown key \`${d.key}\` (allowed: type, default, description, enum)`,
        );
    const typeNode = get(def, "type");
    if (!typeNode) {
      diag.error(def.pos, `${where} has no \`type\` (one of ${PARAM_TYPES.join(", ")})`);
      specs.set(e.key, {
        name: e.key,
        type: "string",
        pos: e.keyPos,
        unchecked: true,
        default: get(def, "default") ?? scalar("", e.keyPos),
      });
      continue;
    }
    const type = typeNode.kind === "scalar" ? String(typeNode.value) : "";
    if (!(PARAM_TYPES as readonly string[]).includes(type)) {
      diag.error(
        typeNode.pos,
        `${where}: unknown type ${JSON.stringify(type)} (one of ${PARAM_TYPES.join(", ")})`,
      );
      specs.set(e.key, {
        name: e.key,
        type: "string",
        pos: e.keyPos,
        unchecked: true,
        default: get(def, "default") ?? scalar("", e.keyPos),
      });
      continue;
    }
    if (pipeline && !["string", "boolean", "integer", "enum"].includes(type)) {
      diag.error(
        typeNode.pos,
        `${where}: pipeline parameters are string, boolean, integer or enum, not ${type}`,
      );
      continue;
    }
    const spec: ParamSpec = { name: e.key, type: type as ParamType, pos: e.keyPos };
    if (type === "enum") {
      const en = get(def, "enum");
      if (en?.kind !== "seq" || en.items.some((i) => i.kind !== "scalar")) {
        diag.error((en ?? def).pos, `${where}: an enum parameter needs \`enum:\`, a list of allowed values`);
        specs.set(e.key, {
          name: e.key,
          type: "string",
          pos: e.keyPos,
          unchecked: true,
          default: get(def, "default") ?? scalar("", e.keyPos),
        });
        continue;
      }
      spec.enum = en.items.map((i) => String((i as { value: unknown }).value));
    }
    const dflt = get(def, "default");
    if (dflt) {
      if (!checkValue(spec, dflt, `${where}: default`, diag)) spec.unchecked = true;
      spec.default = dflt;
    } else if (pipeline) {
      diag.error(def.pos, `${where} needs a \`default\` (pipeline parameters always have one)`);
      continue;
    }
    specs.set(e.key, spec);
  }
  return specs;
}

/** Checks one value against its declaration; reports and returns false when it does not fit. */
export function checkValue(spec: ParamSpec, v: YNode, where: string, diag: Diagnostics): boolean {
  const bad = (what: string) => {
    diag.error(v.pos, `${where} must be ${what}, not ${describe(v)}`);
    return false;
  };
  const s = v.kind === "scalar" ? v.value : undefined;
  if (spec.unchecked) return true;
  // A value that still holds an unresolved pipeline reference is checked once values are known.
  if (typeof s === "string" && s.includes("<< pipeline.")) return true;
  switch (spec.type) {
    case "string":
      return typeof s === "string" || bad("a string (quote numbers: '14.10' stays 14.10)");
    case "boolean":
      return typeof s === "boolean" || bad("true or false");
    case "integer":
      return (typeof s === "number" && Number.isInteger(s)) || bad("an integer");
    case "enum":
      if (s === null || s === undefined || !spec.enum?.includes(String(s)))
        return bad(`one of ${spec.enum?.map((x) => JSON.stringify(x)).join(", ")}`);
      return true;
    case "env_var_name":
      return (
        (typeof s === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) ||
        bad("an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
      );
    case "steps":
      return v.kind === "seq" || bad("a list of steps");
    case "executor":
      return (
        v.kind === "map" || typeof s === "string" || bad("an executor name or `{name: …, <parameters>}`")
      );
  }
}

/** A stand-in for a required parameter when a definition is checked on its own, before any invocation. */
export function placeholder(spec: ParamSpec): YNode {
  switch (spec.type) {
    case "boolean":
      return scalar(false, spec.pos);
    case "integer":
      return scalar(1, spec.pos);
    case "executor":
      return { ...scalar("", spec.pos), placeholder: true };
    case "enum":
      return scalar(spec.enum?.[0] ?? "", spec.pos);
    case "steps":
      return { kind: "seq", pos: spec.pos, items: [] };
    case "env_var_name":
      return scalar("PARAMETER", spec.pos);
    default:
      return scalar("", spec.pos);
  }
}

/**
 * Binds `args` (an invocation's key/value pairs) to `specs`. `standalone` fills required parameters
 * with placeholders instead of reporting them missing (checking an uninvoked definition).
 */
export function bindParams(
  specs: ParamSpecs,
  args: YEntry[],
  owner: string,
  callPos: Pos,
  diag: Diagnostics,
  standalone = false,
  /** Other keys valid where the arguments were written (a workflow job's `requires`, …), for "did you mean". */
  hints: readonly string[] = [],
): Map<string, YNode> {
  const bound = new Map<string, YNode>();
  for (const a of args) {
    const spec = specs.get(a.key);
    if (!spec) {
      const known = [...specs.keys()];
      const hint = didYouMean(a.key, [...known, ...hints]);
      diag.error(
        a.keyPos,
        `${owner} has no parameter \`${a.key}\`${hint || (known.length ? ` (it has: ${known.join(", ")})` : "")}`,
      );
      continue;
    }
    if (checkValue(spec, a.value, `argument \`${a.key}\` of ${owner}`, diag)) bound.set(a.key, a.value);
  }
  for (const spec of specs.values()) {
    if (bound.has(spec.name)) continue;
    if (spec.default) bound.set(spec.name, spec.default);
    else if (standalone || args.some((a) => a.key === spec.name)) bound.set(spec.name, placeholder(spec));
    else {
      diag.error(callPos, `${owner}: required parameter \`${spec.name}\` (${spec.type}) is missing`);
      bound.set(spec.name, placeholder(spec));
    }
  }
  return bound;
}
