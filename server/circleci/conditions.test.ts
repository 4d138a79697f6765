// Logic statements: truthiness of literals, and, or, not, equal, matches; deferred on unknown pipeline values.
import { describe, expect, test } from "bun:test";
import { evaluate } from "./conditions.ts";
import { Diagnostics } from "./diagnostics.ts";
import { parseTree } from "./tree.ts";

const cond = (yaml: string) => {
  const diag = new Diagnostics("f.yml");
  const node = parseTree(`c: ${yaml}\n`, diag);
  if (node?.kind !== "map") throw new Error("bad test yaml");
  const truth = evaluate(node.entries[0].value, diag);
  return { truth, errors: diag.errors.map((e) => `${e.line}:${e.col}: ${e.message}`) };
};

describe("conditions", () => {
  test("literals: false, null, 0, empty string and empty list are falsy", () => {
    for (const f of ["false", "null", "0", '""', "[]"]) expect(cond(f).truth).toBe(false);
    for (const t of ["true", "1", "x", "[0]"]) expect(cond(t).truth).toBe(true);
  });

  test("and / or / not / equal", () => {
    expect(cond("{and: [true, 1, x]}").truth).toBe(true);
    expect(cond("{and: [true, false]}").truth).toBe(false);
    expect(cond("{and: []}").truth).toBe(false);
    expect(cond("{or: [false, 0, y]}").truth).toBe(true);
    expect(cond("{not: {or: [false, 0]}}").truth).toBe(true);
    expect(cond("{equal: [main, main, main]}").truth).toBe(true);
    expect(cond('{equal: [1, "1"]}').truth).toBe(false);
    expect(cond("{equal: [{a: [1]}, {a: [1]}]}").truth).toBe(true);
  });

  test("matches: a whole-string regular expression", () => {
    expect(cond('{matches: {pattern: "^release/.*$", value: release/1}}').truth).toBe(true);
    expect(cond('{matches: {pattern: "rel", value: release}}').truth).toBe(false);
    expect(cond('{matches: {pattern: "(", value: x}}').errors[0]).toBe(
      "1:24: `matches`: invalid regular expression: missing )",
    );
    expect(cond("{matches: {value: x}}").errors).toEqual([
      "1:14: `matches` needs `pattern:`, a regular expression string",
    ]);
  });

  test("a pipeline value not known yet defers the decision", () => {
    expect(cond('{equal: [main, "<< pipeline.git.branch >>"]}').truth).toBe("deferred");
    expect(cond('{and: [false, "<< pipeline.git.branch >>"]}').truth).toBe(false);
    expect(cond('{or: [true, "<< pipeline.git.branch >>"]}').truth).toBe(true);
  });

  test("mistakes are errors at the operator", () => {
    expect(cond("{and: true}").errors).toEqual(["1:10: `and` takes a list, not boolean true"]);
    expect(cond("{equal: [a], or: [b]}").errors).toEqual([
      "1:17: a condition is a value or exactly one of and, or, not, equal, matches; found `or`",
    ]);
  });
});
