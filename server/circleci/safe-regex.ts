// Regular expressions written by users (branch filters, workflow `filters`, `matches`) run inside the
// server's event loop, where JavaScript's backtracking engine could spend years on one webhook. They
// are refused where backtracking can blow up, and run only on names short enough that what remains
// is bounded (at most n^2 · 2^6 steps for n = MAX_SUBJECT):
// - a repeated group that holds a quantifier or an alternation: `(a+)+`, `(a|a)*`, `(a*){20}`;
// - a backreference: `(a*)\1`;
// - more than 3 unbounded quantifiers (`*`, `+`, `{n,}`) or 6 variable ones in all (`?`, `{n,m}`, …).
// A name longer than MAX_SUBJECT never matches a regular expression.

export const MAX_REGEX_LENGTH = 255;
export const MAX_SUBJECT = 255;
const MAX_UNBOUNDED = 3;
const MAX_VARIABLE = 6;

interface Frame {
  /** The group holds a quantifier (or a group that does) or an alternation. */
  quantified: boolean;
  alternation: boolean;
}

/** Why `source` could make the engine backtrack without bound, or null when it is safe to run. */
export function regexHazard(source: string): string | null {
  if (source.length > MAX_REGEX_LENGTH) return `it is longer than ${MAX_REGEX_LENGTH} characters`;
  const stack: Frame[] = [{ quantified: false, alternation: false }];
  /** What a quantifier at this point applies to: a group's frame, an atom, or nothing. */
  let last: Frame | "atom" | null = null;
  let unbounded = 0;
  let variable = 0;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    let range: { min: number; max: number } | null = null;
    if (ch === "\\") {
      const next = source[i + 1] ?? "";
      if (/[1-9]/.test(next) || (next === "k" && source[i + 2] === "<")) return "it uses a backreference";
      // \u{…}, \x.., \p{…} and the like are one atom; skipping their tail is harmless for the count.
      i++;
      last = "atom";
      continue;
    }
    if (ch === "[") {
      for (i++; i < source.length && source[i] !== "]"; i++) if (source[i] === "\\") i++;
      last = "atom";
      continue;
    }
    if (ch === "(") {
      stack.push({ quantified: false, alternation: false });
      // (?:, (?=, (?!, (?<=, (?<!, (?<name>: the group's prefix is not an atom.
      if (source[i + 1] === "?") {
        const named = /^\?<[A-Za-z_$][\w$]*>/.exec(source.slice(i + 1));
        i += named ? named[0].length : source[i + 2] === "<" ? 3 : 2;
      }
      last = null;
      continue;
    }
    if (ch === ")") {
      const group = stack.length > 1 ? stack.pop()! : null;
      if (group) {
        const parent = stack[stack.length - 1];
        parent.quantified ||= group.quantified;
      }
      last = group;
      continue;
    }
    if (ch === "|") {
      stack[stack.length - 1].alternation = true;
      last = null;
      continue;
    }
    if (ch === "*") range = { min: 0, max: Number.POSITIVE_INFINITY };
    else if (ch === "+") range = { min: 1, max: Number.POSITIVE_INFINITY };
    else if (ch === "?") range = { min: 0, max: 1 };
    else if (ch === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
      if (m) {
        const min = Number(m[1]);
        range = {
          min,
          max: m[2] === undefined ? min : m[3] === "" ? Number.POSITIVE_INFINITY : Number(m[3]),
        };
        i += m[0].length - 1;
      }
    }
    if (!range) {
      last = "atom";
      continue;
    }
    if (source[i + 1] === "?") i++; // lazy: the same work, in another order
    if (last !== null && last !== "atom" && range.max > 1 && (last.quantified || last.alternation))
      return "it repeats a group that holds a quantifier or an alternation (nested repetition)";
    if (range.max === Number.POSITIVE_INFINITY) unbounded++;
    if (range.min !== range.max) variable++;
    if (unbounded > MAX_UNBOUNDED)
      return `it has more than ${MAX_UNBOUNDED} unbounded quantifiers (*, +, {n,})`;
    if (variable > MAX_VARIABLE) return `it has more than ${MAX_VARIABLE} variable quantifiers`;
    if (range.max > 1 || range.min !== range.max) stack[stack.length - 1].quantified = true;
    last = null;
  }
  return null;
}

/** A whole-name regular expression from user input; throws a SyntaxError saying why it is refused. */
export function safeRegExp(source: string): RegExp {
  const hazard = regexHazard(source);
  if (hazard) throw new SyntaxError(`refused: ${hazard}, which can make matching take forever`);
  return new RegExp(`^(?:${source})$`);
}

/** `re` on `name`, or false for a name too long to match safely. */
export function testName(re: RegExp, name: string): boolean {
  return name.length <= MAX_SUBJECT && re.test(name);
}
