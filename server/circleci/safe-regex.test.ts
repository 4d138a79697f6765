// User regular expressions run in the server's loop: patterns known to backtrack without bound are
// refused; the everyday branch and tag filters are not.
import { describe, expect, test } from "bun:test";
import { MAX_SUBJECT, regexHazard, safeRegExp, testName } from "./safe-regex.ts";

describe("regexHazard", () => {
  test.each([
    ["(a+)+$", /nested repetition/],
    ["(a*)*b", /nested repetition/],
    ["(a|a)*", /nested repetition/],
    ["(a|aa)+c", /nested repetition/],
    ["(.*a){12}", /nested repetition/],
    ["(\\w+\\s?)*$", /nested repetition/],
    ["^(([a-z])+.)+[A-Z]([a-z])+$", /nested repetition/],
    ["((ab)*c)+", /nested repetition/],
    ["(?:x+y?)+", /nested repetition/],
    ["(?<n>a+)+", /nested repetition/],
    ["(a*)\\1", /backreference/],
    ["(?<x>a)\\k<x>", /backreference/],
    ["a*a*a*a*b", /unbounded/],
    ["a?a?a?a?a?a?a?aaaaaaa", /variable/],
    ["x".repeat(300), /longer/],
  ])("%s is refused", (source, why) => {
    expect(regexHazard(source)).toMatch(why);
    expect(() => safeRegExp(source)).toThrow(/^refused: /);
  });

  test.each([
    "main",
    "release/.*",
    "^v?\\d+\\.\\d+\\.\\d+$",
    "main|develop",
    "feature/[a-z0-9-]+",
    "(foo|bar)/.*",
    "(release)?-\\d{1,4}",
    "dependabot\\/.*",
    "[(+*]+x",
    "\\(a+\\)+",
    "a{2}b{3}",
  ])("%s is accepted", (source) => {
    expect(regexHazard(source)).toBeNull();
    expect(safeRegExp(source)).toBeInstanceOf(RegExp);
  });

  test("a name longer than the limit never matches", () => {
    const re = safeRegExp("a+");
    expect(testName(re, "a".repeat(MAX_SUBJECT))).toBe(true);
    expect(testName(re, "a".repeat(MAX_SUBJECT + 1))).toBe(false);
  });
});
