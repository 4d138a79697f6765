// User regular expressions run in the server's loop, on the linear-time matcher: the patterns that make
// a backtracking engine hang are accepted and answer at once; what the matcher does not run is refused.
import { describe, expect, test } from "bun:test";
import { MAX_SUBJECT, safeRegExp, testName } from "./safe-regex.ts";

describe("safeRegExp", () => {
  test.each([
    ["(a*)\\1", /backreference/],
    ["(?<x>a)\\k<x>", /backreference/],
    ["main(?!-old)", /lookaround/],
    ["\\bv\\d", /word boundary/],
    ["x".repeat(300), /longer/],
  ])("%s is refused", (source, why) => {
    expect(() => safeRegExp(source)).toThrow(/^refused: /);
    expect(() => safeRegExp(source)).toThrow(why);
  });

  test("a pattern that is not a regular expression is refused with the engine's own message", () => {
    expect(() => safeRegExp("(unclosed")).toThrow(SyntaxError);
    expect(() => safeRegExp("(unclosed")).not.toThrow(/^refused/);
  });

  test.each([
    ["main", "main"],
    ["release/.*", "release/1.2"],
    ["^v?\\d+\\.\\d+\\.\\d+$", "v1.2.3"],
    ["main|develop", "develop"],
    ["feature/[a-z0-9-]+", "feature/x-1"],
    ["(foo|bar)/.*", "bar/x"],
    ["(release)?-\\d{1,4}", "-12"],
    ["dependabot\\/.*", "dependabot/npm"],
    ["[(+*]+x", "(+x"],
    ["\\(a+\\)+", "(aa))"],
    ["a{2}b{3}", "aabbb"],
  ])("%s is accepted and matches %s", (source, name) => {
    expect(testName(safeRegExp(source), name)).toBe(true);
  });

  test.each([
    "(a+)+$",
    "(a*)*b",
    "(a|a)*",
    "(a|aa)+c",
    "(.*a){12}",
    "(\\w+\\s?)*$",
    "^(([a-z])+.)+[A-Z]([a-z])+$",
    "a*a*a*a*b",
  ])(
    "%s, which backtracks without bound in JavaScript, is accepted and refuses a long near-miss in linear steps",
    (source) => {
      const re = safeRegExp(source);
      const name = `${"a".repeat(MAX_SUBJECT - 1)}!`;
      const { matched, steps } = re.run(name);
      expect(matched).toBe(false);
      expect(testName(re, name)).toBe(false);
      expect(steps).toBeLessThanOrEqual(2 * (name.length + 1) * re.size);
    },
  );

  test("a name longer than the limit never matches", () => {
    const re = safeRegExp("a+");
    expect(testName(re, "a".repeat(MAX_SUBJECT))).toBe(true);
    expect(testName(re, "a".repeat(MAX_SUBJECT + 1))).toBe(false);
  });
});
