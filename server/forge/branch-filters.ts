// A project's branch filters: which branches its webhooks build. Each pattern is a glob (`*` within
// one path segment, `**` across them, `?` one character) or a /regex/ matched against the whole name,
// as CircleCI's workflow filters do. No patterns: every branch.
import { BadRequest } from "../errors.ts";

const MAX_PATTERNS = 100;
const MAX_PATTERN_LENGTH = 255;

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === "*") {
      if (glob[i + 1] === "*") {
        re += ".*";
        i++;
      } else re += "[^/]*";
    } else if (ch === "?") re += "[^/]";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

export function compileFilter(pattern: string): RegExp {
  if (pattern.length > 2 && pattern.startsWith("/") && pattern.endsWith("/")) {
    return new RegExp(`^(?:${pattern.slice(1, -1)})$`);
  }
  return globToRegExp(pattern);
}

export function branchMatches(filters: readonly string[], branch: string): boolean {
  if (filters.length === 0) return true;
  return filters.some((f) => compileFilter(f).test(branch));
}

/** Checks a `branch_filters` value from the API; a bad pattern is a 400 naming it. */
export function validateBranchFilters(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_PATTERNS) {
    throw new BadRequest(
      `\`branch_filters\` must be an array of at most ${MAX_PATTERNS} patterns`,
      { field: "branch_filters" },
      "invalid_body",
    );
  }
  for (const p of value) {
    if (typeof p !== "string" || p.length === 0 || p.length > MAX_PATTERN_LENGTH) {
      throw new BadRequest(
        `each branch filter must be a non-empty string of at most ${MAX_PATTERN_LENGTH} characters`,
        { field: "branch_filters" },
        "invalid_body",
      );
    }
    try {
      compileFilter(p);
    } catch (err) {
      throw new BadRequest(
        `branch filter ${p} is not a valid regular expression: ${(err as Error).message}`,
        { field: "branch_filters", pattern: p },
        "invalid_body",
      );
    }
  }
  return value as string[];
}
