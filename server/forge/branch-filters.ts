// A project's branch filters: which branches its webhooks build. Each pattern is a glob (`*` within
// one path segment, `**` across them, `?` one character) or a /regex/ matched against the whole name,
// as CircleCI's workflow filters do. No patterns: every branch. A webhook matches them inside the
// event loop, so regular expressions run on the linear-time matcher (what it cannot run is refused,
// and skipped if stored before that check), and globs are matched without a regular expression.
import { safeRegExp, testName } from "../circleci/safe-regex.ts";
import { BadRequest } from "../errors.ts";

const MAX_PATTERNS = 100;
const MAX_PATTERN_LENGTH = 255;

/** Glob matching by dynamic programming: at most (pattern length + 1) · (name length + 1) steps. */
export function globMatches(glob: string, name: string): boolean {
  // reach[j]: the glob read so far can match name[0, j).
  let reach = new Array<boolean>(name.length + 1).fill(false);
  reach[0] = true;
  for (let i = 0; i < glob.length; i++) {
    const next = new Array<boolean>(name.length + 1).fill(false);
    const ch = glob[i];
    if (ch === "*") {
      const any = glob[i + 1] === "*";
      if (any) i++;
      for (let j = 0; j <= name.length; j++) {
        // A run of any characters (`**`), or of any but `/` (`*`).
        next[j] = reach[j] || (j > 0 && next[j - 1] && (any || name[j - 1] !== "/"));
      }
    } else {
      for (let j = 1; j <= name.length; j++)
        next[j] = reach[j - 1] && (ch === "?" ? name[j - 1] !== "/" : name[j - 1] === ch);
    }
    reach = next;
  }
  return reach[name.length];
}

/** A branch filter as a test: a /regex/ (checked by safeRegExp; throws when refused) or a glob. */
export function compileFilter(pattern: string): (branch: string) => boolean {
  if (pattern.length > 2 && pattern.startsWith("/") && pattern.endsWith("/")) {
    const re = safeRegExp(pattern.slice(1, -1));
    return (branch) => testName(re, branch);
  }
  return (branch) => globMatches(pattern, branch);
}

export function branchMatches(filters: readonly string[], branch: string): boolean {
  if (filters.length === 0) return true;
  return filters.some((f) => {
    try {
      return compileFilter(f)(branch);
    } catch {
      return false; // a filter stored before it would be refused matches nothing
    }
  });
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
      const why = (err as Error).message;
      throw new BadRequest(
        why.startsWith("refused:")
          ? `branch filter ${p} is ${why}`
          : `branch filter ${p} is not a valid regular expression: ${why}`,
        { field: "branch_filters", pattern: p },
        "invalid_body",
      );
    }
  }
  return value as string[];
}
