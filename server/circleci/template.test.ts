// `<< … >>` substitution: typed whole values, interpolation, sections, escapes, unknown references.
import { describe, expect, test } from "bun:test";
import { Diagnostics } from "./diagnostics.ts";
import { interpolate, type Scope, substitute } from "./template.ts";
import { scalar, toPlain, type YNode } from "./tree.ts";

const at = { line: 3, col: 7 };
const params = new Map<string, YNode>([
  ["name", scalar("world", at)],
  ["count", scalar(3, at)],
  ["on", scalar(true, at)],
  ["off", scalar(false, at)],
  ["steps", { kind: "seq", pos: at, items: [scalar("checkout", at)] }],
]);
const scope = (over: Partial<Scope> = {}): Scope => ({
  templated: true,
  params,
  owner: "job `j`",
  pipeline: (p) =>
    p === "git.branch" ? { value: scalar("main", at) } : p === "git.revision" ? "unresolved" : "unknown",
  ...over,
});
const run = (text: string, over: Partial<Scope> = {}) => {
  const diag = new Diagnostics("f.yml");
  const out = interpolate(text, at, scope(over), diag);
  return { out, errors: diag.errors.map((e) => `${e.line}:${e.col}: ${e.message}`) };
};

describe("templates", () => {
  test("interpolation, with or without spaces inside the brackets", () => {
    expect(
      run("hello << parameters.name >>, <<parameters.count>> times on <<  pipeline.git.branch  >>").out,
    ).toBe("hello world, 3 times on main");
  });

  test("a scalar that is one reference takes the value's type (integers, booleans, steps)", () => {
    const diag = new Diagnostics("f.yml");
    expect(toPlain(substitute(scalar("<< parameters.count >>", at), scope(), diag))).toBe(3);
    expect(toPlain(substitute(scalar(" << parameters.on >> ", at), scope(), diag))).toBe(true);
    expect(toPlain(substitute(scalar("<< parameters.steps >>", at), scope(), diag))).toEqual(["checkout"]);
    expect(diag.errors).toEqual([]);
  });

  test("sections: <<# x >> keeps its text when x is truthy, <<^ x >> when it is not", () => {
    expect(
      run("a<<# parameters.on >> b<</ parameters.on >><<# parameters.off >> c<</ parameters.off >>").out,
    ).toBe("a b");
    expect(run("<<^ parameters.off >>fallback<</ parameters.off >>").out).toBe("fallback");
    expect(run("<<# parameters.on >>unclosed").errors).toEqual([
      "3:7: section `<<# parameters.on >>` is never closed with `<</ parameters.on >>`",
    ]);
  });

  test("\\<< is a literal <<, and never starts a reference", () => {
    expect(run('cat \\<<EOF; grep x \\<<< "$y"; echo \\<< parameters.name >>').out).toBe(
      'cat <<EOF; grep x <<< "$y"; echo << parameters.name >>',
    );
    // A heredoc without a closing >> is not a reference either.
    expect(run("cat <<EOF").out).toBe("cat <<EOF");
  });

  test("pipeline values not known yet stay in place", () => {
    expect(run("at << pipeline.git.revision >>").out).toBe("at << pipeline.git.revision >>");
  });

  test("unknown references are errors at the scalar", () => {
    expect(run("<< parameters.nope >> << pipeline.nope >> << matrix.x >> << thing >>").errors).toEqual([
      "3:7: `<< parameters.nope >>`: job `j` has no parameter `nope`",
      expect.stringMatching(/^3:7: `<< pipeline.nope >>` is not a pipeline value/),
      "3:7: `<< matrix.x >>`: no matrix parameter `x` here",
      "3:7: `<< thing >>` is not a known reference (use parameters.*, pipeline.* or matrix.*; write `\\<<` for a literal `<<`)",
    ]);
    expect(run("<< parameters.name >>", { params: undefined }).errors).toEqual([
      "3:7: `<< parameters.name >>` is used where there are no parameters (only in jobs, commands and executors)",
    ]);
    expect(run("x << parameters.steps >>").errors).toEqual([
      "3:7: `<< parameters.steps >>` is a list and cannot be used inside a string",
    ]);
  });

  test("version 2 configs are not templated at all", () => {
    expect(run("echo << parameters.name >> \\<<", { templated: false }).out).toBe(
      "echo << parameters.name >> \\<<",
    );
  });
});
