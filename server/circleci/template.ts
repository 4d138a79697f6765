// `<< parameters.x >>`, `<< pipeline.git.branch >>`, `<< matrix.x >>` and mustache-style sections
// (`<<# parameters.flag >>…<</ parameters.flag >>`, `<<^ … >>`) in 2.1 configs; `\<<` is a literal `<<`.
// Each definition body is substituted exactly once, and substituted values are never re-scanned.
import type { Work } from "./budget.ts";
import type { Diagnostics } from "./diagnostics.ts";
import { type Pos, scalar, type YNode, type YScalar } from "./tree.ts";

export type Resolved = { value: YNode } | "unresolved" | "unknown";

export interface Scope {
  /** 2.1 only: version 2 configs are never templated. */
  templated: boolean;
  /** Bound parameter values; undefined where `<< parameters.x >>` cannot be used. */
  params?: Map<string, YNode>;
  /** Who owns `params`, for messages: "job `build`", "command `setup`". */
  owner?: string;
  matrix?: Map<string, YNode>;
  pipeline: (path: string) => Resolved;
  /** The config's work budget; every node substituted counts. */
  work?: Work;
}

const TOKEN = /\\<<|<<\s*([#^/]?)\s*([A-Za-z_][\w.-]*)\s*>>/g;
const WHOLE = /^\s*<<\s*([A-Za-z_][\w.-]*)\s*>>\s*$/;

export function hasTemplate(s: string): boolean {
  return s.includes("<<");
}

/** Substitutes every scalar in `node`. A scalar that is exactly one reference takes the value's type. */
export function substitute(node: YNode, scope: Scope, diag: Diagnostics): YNode {
  if (!scope.templated) return node;
  if (scope.work && !scope.work.spend(1, node.pos)) return node;
  // Unchanged subtrees are returned as they are: aliased bodies stay shared, not copied per use.
  if (node.kind === "seq") {
    const items = node.items.map((i) => substitute(i, scope, diag));
    return items.every((x, i) => x === node.items[i]) ? node : { ...node, items };
  }
  if (node.kind === "map") {
    const values = node.entries.map((e) => substitute(e.value, scope, diag));
    return values.every((v, i) => v === node.entries[i].value)
      ? node
      : {
          ...node,
          entries: node.entries.map((e, i) => (values[i] === e.value ? e : { ...e, value: values[i] })),
        };
  }
  if (typeof node.value !== "string" || !hasTemplate(node.value)) return node;
  const whole = WHOLE.exec(node.value);
  if (whole) {
    const r = lookup(whole[1], scope, node.pos, diag);
    if (r === undefined) return node;
    if (r === "unresolved") return scalar(`<< ${whole[1]} >>`, node.pos);
    return r;
  }
  return scalar(interpolate(node.value, node, scope, diag), node.pos);
}

/**
 * Substitutes a string that must stay a string (names, keys). Given the scalar it came from, errors
 * point at the reference itself (line and column inside a multi-line command), not at the scalar.
 */
export function interpolate(text: string, from: Pos | YScalar, scope: Scope, diag: Diagnostics): string {
  if (!scope.templated || !hasTemplate(text)) return text;
  const scalarPos = "kind" in from ? from.pos : from;
  const seen = new Map<string, number>();
  let pos = scalarPos;
  const out: string[] = [];
  // Section stack: whether output is currently being kept.
  const stack: { ref: string; keep: boolean }[] = [];
  const keeping = () => stack.every((s) => s.keep);
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    const nth = seen.get(m[0]) ?? 0;
    seen.set(m[0], nth + 1);
    pos = ("kind" in from && from.locate?.(m[0], nth)) || scalarPos;
    if (keeping()) out.push(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[0] === "\\<<") {
      if (keeping()) out.push("<<");
      continue;
    }
    const [, sigil, ref] = m;
    if (sigil === "/") {
      const open = stack.pop();
      if (!open || open.ref !== ref)
        diag.error(pos, `\`<</ ${ref} >>\` closes a section that was not opened`);
      continue;
    }
    const r = lookup(ref, scope, pos, diag);
    if (sigil === "#" || sigil === "^") {
      const truthy = r !== undefined && r !== "unresolved" && isTruthy(r);
      stack.push({ ref, keep: sigil === "#" ? truthy : !truthy });
      continue;
    }
    if (!keeping()) continue;
    if (r === undefined) out.push(m[0]);
    else if (r === "unresolved") out.push(`<< ${ref} >>`);
    else if (r.kind !== "scalar")
      diag.error(
        pos,
        `\`<< ${ref} >>\` is ${r.kind === "seq" ? "a list" : "a mapping"} and cannot be used inside a string`,
      );
    else out.push(r.value === null ? "" : String(r.value));
  }
  if (keeping()) out.push(text.slice(last));
  for (const s of stack)
    diag.error(scalarPos, `section \`<<# ${s.ref} >>\` is never closed with \`<</ ${s.ref} >>\``);
  return out.join("");
}

/** undefined: an error was reported (or the reference is not ours to resolve). */
function lookup(ref: string, scope: Scope, pos: Pos, diag: Diagnostics): YNode | "unresolved" | undefined {
  const dot = ref.indexOf(".");
  const ns = dot < 0 ? ref : ref.slice(0, dot);
  const name = dot < 0 ? "" : ref.slice(dot + 1);
  if (ns === "parameters") {
    if (!scope.params) {
      diag.error(
        pos,
        `\`<< ${ref} >>\` is used where there are no parameters (only in jobs, commands and executors)`,
      );
      return undefined;
    }
    const v = scope.params.get(name);
    if (!v) {
      diag.error(pos, `\`<< ${ref} >>\`: ${scope.owner ?? "this definition"} has no parameter \`${name}\``);
      return undefined;
    }
    return v;
  }
  if (ns === "matrix") {
    const v = scope.matrix?.get(name);
    if (!v) {
      diag.error(pos, `\`<< ${ref} >>\`: no matrix parameter \`${name}\` here`);
      return undefined;
    }
    return v;
  }
  if (ns === "pipeline") {
    const r = scope.pipeline(name);
    if (r === "unknown") {
      diag.error(
        pos,
        `\`<< ${ref} >>\` is not a pipeline value (known: pipeline.number, pipeline.id, pipeline.git.branch, pipeline.git.tag, pipeline.git.revision, pipeline.git.base_revision, pipeline.project.git_url, pipeline.parameters.*)`,
      );
      return undefined;
    }
    return r === "unresolved" ? r : r.value;
  }
  diag.error(
    pos,
    `\`<< ${ref} >>\` is not a known reference (use parameters.*, pipeline.* or matrix.*; write \`\\<<\` for a literal \`<<\`)`,
  );
  return undefined;
}

/** CircleCI's falsy values: false, null, 0, NaN, "" and empty lists/mappings. */
export function isTruthy(n: YNode): boolean {
  if (n.kind === "seq") return n.items.length > 0;
  if (n.kind === "map") return n.entries.length > 0;
  const v = n.value;
  return !(v === false || v === null || v === 0 || v === "" || (typeof v === "number" && Number.isNaN(v)));
}

/** Whether a substituted string still holds an unresolved pipeline reference (no values given yet). */
export const isDeferred = (n: YNode): boolean =>
  n.kind === "scalar"
    ? typeof n.value === "string" && /<< pipeline\./.test(n.value)
    : n.kind === "seq"
      ? n.items.some(isDeferred)
      : n.entries.some((e) => isDeferred(e.value));
