// Workflow job `filters`: branches and tags, each `only` and/or `ignore`, as names or `/regex/`s.
// CircleCI's rules: a `/regex/` must match the whole name; a job with no tag filter never runs for a
// tag; for a tag, branch filters do not apply.
import { regexProblem } from "./conditions.ts";
import type { Diagnostics } from "./diagnostics.ts";
import type { Filters, PatternFilter } from "./model.ts";
import { safeRegExp, testName } from "./safe-regex.ts";
import { describe, type YNode } from "./tree.ts";
import type { PipelineValues } from "./types.ts";

export function readFilters(v: YNode, where: string, diag: Diagnostics): Filters | undefined {
  if (v.kind !== "map") {
    diag.error(v.pos, `${where}: \`filters\` takes \`branches\` and/or \`tags\`, not ${describe(v)}`);
    return undefined;
  }
  const out: Filters = {};
  for (const e of v.entries) {
    if (e.key !== "branches" && e.key !== "tags") {
      diag.error(e.keyPos, `${where}: filters: unknown key \`${e.key}\` (branches, tags)`);
      continue;
    }
    if (e.value.kind !== "map") {
      diag.error(
        e.value.pos,
        `${where}: filters.${e.key} takes \`only\` and/or \`ignore\`, not ${describe(e.value)}`,
      );
      continue;
    }
    const f: PatternFilter = {};
    for (const p of e.value.entries) {
      if (p.key !== "only" && p.key !== "ignore") {
        diag.error(p.keyPos, `${where}: filters.${e.key}: unknown key \`${p.key}\` (only, ignore)`);
        continue;
      }
      const items = p.value.kind === "seq" ? p.value.items : [p.value];
      const patterns: string[] = [];
      for (const i of items) {
        if (i.kind !== "scalar" || i.value === null) {
          diag.error(
            i.pos,
            `${where}: filters.${e.key}.${p.key} lists names or /regular expressions/, not ${describe(i)}`,
          );
          continue;
        }
        const s = String(i.value);
        const re = /^\/(.*)\/$/s.exec(s);
        if (re) {
          try {
            safeRegExp(re[1]);
          } catch (err) {
            diag.error(
              i.pos,
              `${where}: filters.${e.key}.${p.key}: invalid regular expression ${s}: ${regexProblem(err)}`,
            );
            continue;
          }
        }
        patterns.push(s);
      }
      f[p.key] = patterns;
    }
    out[e.key] = f;
  }
  return out;
}

export function runs(filters: Filters | undefined, values: PipelineValues): boolean {
  if (values.tag !== undefined && values.tag !== "")
    return filters?.tags !== undefined && passes(filters.tags, values.tag);
  return filters?.branches === undefined || passes(filters.branches, values.branch ?? "");
}

function passes(f: PatternFilter, name: string): boolean {
  if (f.only && !f.only.some((p) => matches(p, name))) return false;
  if (f.ignore?.some((p) => matches(p, name))) return false;
  return true;
}

export function matches(pattern: string, name: string): boolean {
  const re = /^\/(.*)\/$/s.exec(pattern);
  if (!re) return pattern === name;
  try {
    return testName(safeRegExp(re[1]), name);
  } catch {
    return false; // refused when the config was read: never reached
  }
}
