import { describe, expect, test } from "bun:test";
import { ExpressionError, evaluate, parseExpression } from "./restriction-expression.ts";

const holds = (src: string, branch: string | null, tag: string | null = null) =>
  evaluate(parseExpression(src), { branch, tag });

describe("context restriction expressions", () => {
  test("compare, negate and combine, with and before or", () => {
    expect(holds('pipeline.git.branch == "main"', "main")).toBe(true);
    expect(holds('pipeline.git.branch == "main"', "dev")).toBe(false);
    expect(holds('pipeline.git.branch != "main"', "dev")).toBe(true);
    expect(holds('pipeline.git.branch starts-with "release/"', "release/1.2")).toBe(true);
    expect(holds('not pipeline.git.branch starts-with "release/"', "release/1.2")).toBe(false);
    expect(holds('pipeline.git.tag != ""', null, "v1")).toBe(true);
    expect(holds('pipeline.git.tag != ""', "main")).toBe(false);
    const src = 'pipeline.git.branch == "a" or pipeline.git.branch == "b" and pipeline.git.tag == "t"';
    expect(holds(src, "a")).toBe(true);
    expect(holds(src, "b")).toBe(false);
    expect(holds(`(${src.replace(" and", ") and")}`, "a")).toBe(false);
  });

  test.each([
    "pipeline.git.branch ==",
    'pipeline.git.branch = "x"',
    'pipeline.project.secret == "x"',
    '(pipeline.git.branch == "x"',
    'pipeline.git.branch == "x" extra',
    "",
  ])("%p is refused", (src) => {
    expect(() => parseExpression(src)).toThrow(ExpressionError);
  });
});
