// Configs come from repositories anyone can push to: hostile ones are refused quickly, not expanded.
import { describe, expect, test } from "bun:test";
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
