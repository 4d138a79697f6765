// Configs come from repositories anyone can push to: hostile ones are refused quickly, not expanded.
import { describe, expect, spyOn, test } from "bun:test";
import { Alias } from "yaml";
import { parseConfig } from "./index.ts";

const messages = (text: string) =>
  parseConfig(text, "c.yml").errors.map((e) => `${e.line}:${e.col}: ${e.message}`);

describe("limits", () => {
  test("an alias bomb is refused", () => {
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++)
      levels.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      );
    // 10^9 nodes if expanded: refused at the 200000th, as the message says, or the test would never end.
    const errors = messages(`version: 2\n${levels.join("\n")}\n`);
    expect(errors).toEqual([
      expect.stringMatching(
        /^\d+:\d+: config expands to more than 200000 YAML nodes through aliases; refusing it$/,
      ),
    ]);
  });

  test("a matrix with too many combinations is refused", () => {
    const values = `[${Array.from({ length: 20 }, (_, i) => i).join(", ")}]`;
    const errors = messages(`version: 2.1
jobs:
  t:
    parameters: {a: {type: integer}, b: {type: integer}}
    docker: [{image: x}]
    steps: [checkout]
workflows:
  w:
    jobs:
      - t:
          matrix:
            parameters: {a: ${values}, b: ${values}}
`);
    expect(errors).toEqual(["12:13: job `t`: `matrix` makes more than 256 jobs; split it"]);
  });

  test("commands that multiply steps are refused", () => {
    const commands = ["  c0:\n    steps: [checkout]"];
    for (let i = 1; i <= 20; i++) commands.push(`  c${i}:\n    steps: [c${i - 1}, c${i - 1}]`);
    // 2^20 steps if expanded: refused past 100000, as the message says.
    const errors = messages(`version: 2.1
commands:
${commands.join("\n")}
jobs:
  build:
    docker: [{image: x}]
    steps: [c20]
`);
    expect(errors.length).toBe(1);
    expect(errors[0]).toMatch(/more than 100000 steps after expanding commands; refusing the config$/);
  });
});

describe("linear processing", () => {
  test("aliases are resolved in one pass, never by walking the document per alias", () => {
    // 2,000 aliases of 100 anchored steps: the library's Alias.resolve would walk the file 2,000 times.
    const anchors = Array.from(
      { length: 100 },
      (_, i) => `  - &s${i} {run: {name: s${i}, command: echo ${i}}}`,
    );
    const jobs = Array.from(
      { length: 20 },
      (_, j) =>
        `  j${j}:\n    docker: [{image: x}]\n    steps:\n${Array.from({ length: 100 }, (_, i) => `      - *s${i}`).join("\n")}`,
    );
    const text = `version: 2.1\nsteps:\n${anchors.join("\n")}\njobs:\n${jobs.join("\n")}\nworkflows:\n  w:\n    jobs: [${jobs.map((_, j) => `j${j}`).join(", ")}]\n`;
    const resolve = spyOn(Alias.prototype, "resolve");
    try {
      const { config, errors } = parseConfig(text, "c.yml");
      expect(errors).toEqual([]);
      expect(resolve).not.toHaveBeenCalled();
      expect(Object.keys(config?.jobs ?? {}).length).toBe(20);
      expect(config?.jobs.j19.steps[99]).toMatchObject({ type: "run", name: "s99", command: "echo 99" });
    } finally {
      resolve.mockRestore();
    }
  });

  test("an alias refers to the latest anchor of its name before it", () => {
    const { config } = parseConfig(
      `version: 2.1
a: &img {image: first}
b: &img {image: second}
jobs:
  build:
    docker: [*img]
    steps: [checkout]
`,
      "c.yml",
    );
    expect(config?.jobs.build.executor.image).toBe("second");
  });

  test("a matrix that substitutes a large body many times runs out of work, not of time", () => {
    // 11,111 nodes from four small aliases, substituted once per matrix job: 64 jobs make 711,104.
    const values = `[${Array.from({ length: 64 }, (_, i) => i).join(", ")}]`;
    const errors = messages(`version: 2.1
l0: &l0 [a, a, a, a, a, a, a, a, a, a]
l1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]
l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]
l3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]
jobs:
  t:
    parameters: {a: {type: integer}}
    docker: [{image: x, command: *l3}]
    steps: [checkout]
workflows:
  w:
    jobs:
      - t: {matrix: {parameters: {a: ${values}}}}
`);
    expect(errors).toEqual([
      expect.stringMatching(
        /^\d+:\d+: expanding this config takes more than 500000 steps of work .*; refusing it$/,
      ),
    ]);
  });
});
