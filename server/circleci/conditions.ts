// Logic statements for step `when`/`unless` and workflow `when`/`unless`: a literal (truthiness) or
// one of `and`, `or`, `not`, `equal`, `matches: {pattern, value}`.

import type { Diagnostics } from "./diagnostics.ts";
import type { LinearRegex } from "./linear-regex.ts";
import { safeRegExp, testName } from "./safe-regex.ts";
import { isDeferred, isTruthy } from "./template.ts";
import { describe, get, toPlain, type YNode } from "./tree.ts";

/** The engine's complaint about a pattern, without its "Invalid regular expression" preamble. */
export const regexProblem = (e: unknown) =>
  String((e as Error).message).replace(/^Invalid regular expression: (\/.*\/[a-z]*: )?/, "");

/** "deferred": the condition depends on pipeline values that are not known yet (`config process` without values). */
export type Truth = boolean | "deferred";

const OPERATORS = new Set(["and", "or", "not", "equal", "matches"]);

export function evaluate(n: YNode, diag: Diagnostics): Truth {
  if (n.kind !== "map") return isDeferred(n) ? "deferred" : isTruthy(n);
  if (n.entries.length !== 1 || !OPERATORS.has(n.entries[0].key)) {
    const key = n.entries.find((e) => !OPERATORS.has(e.key)) ?? n.entries[1] ?? n.entries[0];
    diag.error(
      key?.keyPos ?? n.pos,
      `a condition is a value or exactly one of and, or, not, equal, matches${key ? `; found \`${key.key}\`` : ""}`,
    );
    return false;
  }
  const { key: op, value: arg } = n.entries[0];
  if (op === "not") return not(evaluate(arg, diag));
  if (op === "matches") return matches(arg, diag);
  if (arg.kind !== "seq") {
    diag.error(arg.pos, `\`${op}\` takes a list, not ${describe(arg)}`);
    return false;
  }
  if (op === "equal") {
    if (arg.items.some(isDeferred)) return "deferred";
    if (arg.items.length === 0) return false;
    const first = JSON.stringify(toPlain(arg.items[0]));
    return arg.items.every((i) => JSON.stringify(toPlain(i)) === first);
  }
  // Every operand is evaluated, so that a mistake in any of them is reported.
  const parts = arg.items.map((i) => evaluate(i, diag));
  if (parts.length === 0) return false;
  if (op === "and") return parts.includes(false) ? false : parts.includes("deferred") ? "deferred" : true;
  return parts.includes(true) ? true : parts.includes("deferred") ? "deferred" : false;
}

export const not = (t: Truth): Truth => (t === "deferred" ? t : !t);

function matches(arg: YNode, diag: Diagnostics): Truth {
  if (arg.kind !== "map") {
    diag.error(arg.pos, "`matches` takes `{pattern: <regex>, value: <string>}`");
    return false;
  }
  const pattern = get(arg, "pattern");
  const value = get(arg, "value");
  for (const e of arg.entries)
    if (e.key !== "pattern" && e.key !== "value")
      diag.error(e.keyPos, `\`matches\`: unknown key \`${e.key}\` (pattern, value)`);
  if (pattern?.kind !== "scalar" || typeof pattern.value !== "string") {
    diag.error((pattern ?? arg).pos, "`matches` needs `pattern:`, a regular expression string");
    return false;
  }
  if (value?.kind !== "scalar") {
    diag.error((value ?? arg).pos, "`matches` needs `value:`, the string to test");
    return false;
  }
  let re: LinearRegex;
  try {
    re = safeRegExp(pattern.value.replace(/^\/(.*)\/$/, "$1"));
  } catch (e) {
    diag.error(pattern.pos, `\`matches\`: invalid regular expression: ${regexProblem(e)}`);
    return false;
  }
  if (isDeferred(value)) return "deferred";
  return testName(re, String(value.value ?? ""));
}
