// The linear-time matcher against JavaScript's own engine on random patterns of the subset it runs,
// and its step count on the patterns that make a backtracking engine hang.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { compileLinear, MAX_PROGRAM } from "./linear-regex.ts";

// Pieces that read one character, and anchors (which JavaScript will not let a quantifier follow).
const CHARS = [
  "a",
  "b",
  "-",
  "\\/",
  "/",
  ".",
  "\\.",
  "[ab]",
  "[^a]",
  "[a-c]",
  "[-a]",
  "\\d",
  "\\w",
  "\\s",
  "\\D",
  "[\\d/]",
];
const ANCHORS = ["^", "$"];
const QUANTIFIERS = ["*", "+", "?", "{2}", "{0,2}", "{1,}", "{1,3}", "*?", "+?", "??", "{1,2}?"];
const NAME_UNITS = ["a", "b", "c", "-", "/", ".", "1", " ", "\n", "_"];

const quantifier = fc.constantFrom(...QUANTIFIERS);

/** A pattern of the subset, nested up to `depth` groups deep. */
function pattern(depth: number): fc.Arbitrary<string> {
  const char = fc.constantFrom(...CHARS);
  const quantified = fc.tuple(char, quantifier).map(([c, q]) => c + q);
  const leaf = fc.oneof(char, char, quantified, fc.constantFrom(...ANCHORS));
  if (depth === 0) return leaf;
  const inner = pattern(depth - 1);
  const seq = fc.array(inner, { maxLength: 4 }).map((parts) => parts.join(""));
  const group = fc
    .tuple(fc.constantFrom("(", "(?:"), seq, fc.option(quantifier, { nil: "" }))
    .map(([open, body, q]) => `${open}${body})${q}`);
  const alternation = fc.array(seq, { minLength: 2, maxLength: 3 }).map((alts) => alts.join("|"));
  return fc.oneof(leaf, group, alternation, seq);
}

const name = fc.array(fc.constantFrom(...NAME_UNITS), { maxLength: 10 }).map((units) => units.join(""));

describe("compileLinear", () => {
  test("answers as JavaScript's RegExp does, on random patterns of the subset and names", () => {
    fc.assert(
      fc.property(pattern(3), fc.array(name, { minLength: 1, maxLength: 8 }), (source, names) => {
        const linear = compileLinear(source);
        const native = new RegExp(`^(?:${source})$`);
        for (const n of names)
          expect({ source, name: n, matched: linear.test(n) }).toEqual({
            source,
            name: n,
            matched: native.test(n),
          });
      }),
      { numRuns: 3000 },
    );
  });

  test("class escapes, classes and `.` agree with JavaScript on every UTF-16 code unit", () => {
    const sources = [
      "\\d",
      "\\D",
      "\\w",
      "\\W",
      "\\s",
      "\\S",
      ".",
      "[^\\s\\d]",
      "[\\]\\\\a-c\\-]",
      "[\\x20-\\u00ff]",
    ];
    for (const source of sources) {
      const linear = compileLinear(source);
      const native = new RegExp(`^(?:${source})$`);
      const differ: number[] = [];
      for (let c = 0; c <= 0xffff; c++) {
        const unit = String.fromCharCode(c);
        if (linear.test(unit) !== native.test(unit)) differ.push(c);
      }
      expect({ source, differ }).toEqual({ source, differ: [] });
    }
  });

  test.each([
    ["release/.*", "release/2.1", true],
    ["^v?\\d+\\.\\d+\\.\\d+$", "v1.22.3", true],
    ["main|develop", "maint", false],
    ["feature/[a-z0-9-]+", "feature/x-1", true],
    ["dependabot\\/.*", "dependabot/npm/x", true],
    ["[(+*]+x", "(+*x", true],
    ["a{,2}", "a{,2}", true], // a `{` that starts no quantifier is a literal, as in JavaScript
    ["a]}", "a]}", true],
    ["[]a", "a", false], // an empty class matches nothing
    ["[^]", "\n", true],
    ["\\x41\\u0042[\\b]", "AB\b", true],
    ["(?<v>v)?1", "v1", true],
  ])("%s on %s is %p", (source, n, expected) => {
    expect(compileLinear(source).test(n)).toBe(expected);
    expect(new RegExp(`^(?:${source})$`).test(n)).toBe(expected);
  });

  test.each([
    ["(a*)\\1", /backreference/],
    ["(?<x>a)\\k<x>", /backreference/],
    ["a(?=b)", /lookaround/],
    ["(?!a)b", /lookaround/],
    ["(?<=a)b", /lookaround/],
    ["\\bmain\\b", /word boundary/],
    ["\\p{L}+", /escape `\\p`/],
    ["(a{100}){100}", new RegExp(`more than ${MAX_PROGRAM} instructions`)],
    ["a**", /nothing to repeat/],
    ["^*", /nothing to repeat/],
    ["a{3,1}", /out of order/],
    ["[z-a]", /out of order/],
    ["(a", /unterminated group/],
    ["a)", /unmatched/],
    ["[a", /unterminated character class/],
  ])("%s is refused, saying why", (source, why) => {
    expect(() => compileLinear(source)).toThrow(why);
  });
});

describe("patterns that make a backtracking engine hang", () => {
  // 50,000 a's and a character that fails the match: JavaScript's engine would take ~2^50000 steps
  // on the first of these. Here each position costs at most twice the program's size.
  const n = 50_000;
  test.each([
    ["(a+)+$", `${"a".repeat(n)}!`],
    ["(a|a)*b", "a".repeat(n)],
    ["(a*)*b", "a".repeat(n)],
    ["(\\w+\\s?)*$", `${"ab ".repeat(n / 3)}!`],
    ["(.*a){12}", "b".repeat(n)],
    ["^(([a-z])+.)+[A-Z]([a-z])+$", "aaaa".repeat(n / 4)],
  ])("%s refuses a 50,000-character name in at most 2 · (n + 1) · size steps", (source, subject) => {
    const re = compileLinear(source);
    const { matched, steps } = re.run(subject);
    expect(matched).toBe(false);
    expect(steps).toBeLessThanOrEqual(2 * (subject.length + 1) * re.size);
  });

  test("the step count is exact for `(a+)+$`: 13 per character, whatever the length", () => {
    const re = compileLinear("(a+)+$");
    const steps = [1_000, 10_000, 50_000].map((k) => re.run(`${"a".repeat(k)}!`).steps);
    expect(steps[1] - steps[0]).toBe(13 * 9_000);
    expect(steps[2] - steps[1]).toBe(13 * 40_000);
  });
});
