import { describe, expect, test } from "bun:test";
import { branchMatches, validateBranchFilters } from "./branch-filters.ts";

describe("branch filters", () => {
  test("no filters: every branch", () => {
    expect(branchMatches([], "anything/at-all")).toBe(true);
  });
  test("globs: * within a segment, ** across, ? one character, the rest literal", () => {
    expect(branchMatches(["main"], "main")).toBe(true);
    expect(branchMatches(["main"], "mainline")).toBe(false);
    expect(branchMatches(["release/*"], "release/1.2")).toBe(true);
    expect(branchMatches(["release/*"], "release/1.2/hotfix")).toBe(false);
    expect(branchMatches(["feature/**"], "feature/a/b")).toBe(true);
    expect(branchMatches(["v?.x"], "v1.x")).toBe(true);
    expect(branchMatches(["v1.x"], "v1-x")).toBe(false);
  });
  test("/regex/ matches the whole name", () => {
    expect(branchMatches(["/dependabot\\/.*/"], "dependabot/npm/x")).toBe(true);
    expect(branchMatches(["/ma/"], "main")).toBe(false);
    expect(branchMatches(["/ma.*/", "dev"], "dev")).toBe(true);
  });
  test("validation names what is wrong", () => {
    expect(validateBranchFilters(["main", "/re.*/"])).toEqual(["main", "/re.*/"]);
    expect(() => validateBranchFilters("main")).toThrow(/array/);
    expect(() => validateBranchFilters([""])).toThrow(/non-empty/);
    expect(() => validateBranchFilters(["/(unclosed/"])).toThrow(/not a valid regular expression/);
  });
});

describe("catastrophic regular expressions", () => {
  test("are accepted, and run on the linear-time matcher", () => {
    expect(validateBranchFilters(["/(a+)+$/"])).toEqual(["/(a+)+$/"]);
    // 200 a's and a mismatch: a backtracking engine would take ~2^200 steps on this.
    expect(branchMatches(["/(a+)+b/"], `${"a".repeat(200)}c`)).toBe(false);
    expect(branchMatches(["/(a+)+b/"], `${"a".repeat(200)}b`)).toBe(true);
  });
  test("what the matcher does not run is refused by validation, naming why", () => {
    expect(() => validateBranchFilters(["/(a*)\\1/"])).toThrow(/is refused: .*backreference/);
    expect(() => validateBranchFilters(["/main(?=x)/"])).toThrow(/is refused: .*lookaround/);
  });
  test("one stored before the check matches nothing", () => {
    expect(branchMatches(["/(a)\\1/"], "aa")).toBe(false);
    expect(branchMatches(["/(a)\\1/", "main"], "main")).toBe(true);
  });
  test("globs never backtrack: many stars on a long name", () => {
    expect(branchMatches(["*a*a*a*a*a*a*a*a*a*a*b"], "a".repeat(5000))).toBe(false);
    expect(branchMatches(["**a**a**a**b"], `${"a/".repeat(2000)}b`)).toBe(true);
  });
});
