// Broken configs: every problem in the file is reported at once, each at the line:col of the node at fault.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { formatError, parseConfig } from "./index.ts";

const fixture = (name: string) => readFileSync(join(import.meta.dir, "fixtures", name), "utf8");
const problems = (text: string, file = "c.yml") =>
  parseConfig(text, file).errors.map((e) => `${e.line}:${e.col}: ${e.message}`);
const LINUX =
  "Cairn runs jobs in Linux LXC containers, so this job ends not_run (the rest of the pipeline runs)";
const warningsOf = (text: string) =>
  parseConfig(text, "c.yml").warnings.map((e) => `${e.line}:${e.col}: ${e.message}`);

describe("every error at once, with line:col", () => {
  test("fixtures/errors.yml (2.1)", () => {
    const { config, errors } = parseConfig(fixture("errors.yml"), "errors.yml");
    expect(config).toBeUndefined();
    expect(errors.every((e) => e.file === "errors.yml")).toBe(true);
    expect(errors.map((e) => `${e.line}:${e.col}: ${e.message}`)).toEqual([
      "4:3: orb `node` (circleci/node@5.0): circleci/node has no published version matching 5.0; publish it with `cairn orb pack SRC_DIR > orb.yml && cairn orb publish circleci/node@X.Y.Z orb.yml`",
      "10:3: executor `broken` needs one of docker, machine or macos",
      '17:15: command `greet`: parameter `who`: unknown type "strin" (one of string, boolean, integer, enum, steps, executor, env_var_name)',
      "19:19: `<< parameters.whom >>`: command `greet` has no parameter `whom`",
      "25:18: job `build`: `parallelism` must be a whole number of at least 1, not number 0",
      "28:9: step `node/install-packages` comes from orb `node` (circleci/node@5.0), which could not be loaded (see its declaration)",
      "31:11: command `greet` has no parameter `loud` (it has: who)",
      '34:30: `run`: `no_output_timeout` must be a duration like 10m, 20s, 1h or 1h30m, not the string "soon"',
      '35:17: `run`: `when` must be on_success, on_fail or always, not "sometimes"',
      "37:11: `save_cache` needs `key`",
      "38:9: job `build`: unknown step `teleport` (not a built-in step or a command under `commands:`)",
      "39:3: job `lonely` has no executor: give it `docker`, `machine` or `executor`",
      "54:9: workflow `main`: unknown job `test` (not defined under `jobs:`; approval jobs need `type: approval`)",
      '57:18: argument `count` of job `typed` must be an integer, not the string "many"',
      "58:22: workflow `main`: job `typed` requires `missing`, which is not a job in this workflow",
      "59:9: workflow `main`: jobs require each other in a cycle: a → b → a",
      "65:9: job `node/test` comes from orb `node` (circleci/node@5.0), which could not be loaded (see its declaration)",
    ]);
  });

  test("fixtures/errors-v2.yml (2.0: no 2.1 features, unsupported steps, bad filters)", () => {
    expect(problems(fixture("errors-v2.yml"))).toEqual([
      "3:1: `commands` needs `version: 2.1`",
      "11:5: job `build`: `parameters` needs `version: 2.1`",
      "16:9: job `build`: unknown step `setup` (not a built-in step; commands need version 2.1)",
      "22:24: `restore_cache` needs `key` or `keys`",
      "23:9: job `test`: a step is a mapping with exactly one key, the step's name; found `run`, `command`",
      "33:13: job `build`: `matrix` needs `version: 2.1`",
      "38:21: workflow `main`: job `test`: filters.branches.only: invalid regular expression /[unclosed/: missing terminating ] for character class",
      "39:20: workflow `main`: job `test`: `context` is a context name or a list of them, not number 42",
    ]);
  });

  test("platforms Cairn cannot run are warnings: the job ends not_run, the file still runs", () => {
    expect(warningsOf(fixture("errors.yml"))).toContain(
      `8:5: executor \`mac\`: macos executor (Xcode 15.0): ${LINUX}`,
    );
    expect(warningsOf(fixture("errors-v2.yml"))).toEqual(
      expect.arrayContaining([
        `19:14: job \`test\`: Windows machine image \`windows-server-2022-gui:current\`: ${LINUX}`,
        "21:9: step `setup_remote_docker`: Cairn jobs run in LXC containers with no remote Docker engine to attach to; the job ends not_run (the rest of the pipeline runs)",
      ]),
    );
  });

  test("YAML syntax errors carry their position", () => {
    expect(problems("version: 2.1\njobs:\n  build:\n    docker: [{image: a}\n    steps: []\n")).toEqual([
      "5:5: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]",
    ]);
    expect(problems("version: 2.1\njobs:\n  a: {}\n  a: {}\n")).toEqual([
      "4:3: YAML syntax error: Map keys must be unique",
    ]);
  });

  test("version, empty files, and what is not a config", () => {
    expect(problems("")).toEqual(["1:1: config is empty"]);
    expect(problems("- a\n- b\n")).toEqual([
      "1:1: a config is a mapping with `version`, `jobs` and `workflows`, not a list",
    ]);
    expect(problems("jobs: {}\n")).toEqual([
      "1:1: `version` is missing: Cairn reads CircleCI configs of version 2 and 2.1",
    ]);
    expect(problems("version: 3\n")).toEqual(["1:10: version 3 is not supported: use 2 or 2.1"]);
    expect(problems("version: 2\njobs:\n  test:\n    docker: [{image: a}]\n    steps: [checkout]\n")).toEqual(
      ["1:1: there is no `workflows` section and no job called `build` to run without one"],
    );
  });

  test("parameter declarations and arguments", () => {
    const text = `version: 2.1
parameters:
  flag:
    type: steps
jobs:
  j:
    parameters:
      level:
        type: enum
        enum: [low, high]
        default: medium
      name:
        type: env_var_name
        default: 9LIVES
      list:
        type: string
        default: [a]
    docker: [{image: a}]
    steps:
      - run: echo << parameters.level >> << pipeline.parameters.nope >> << pipeline.git.nope >> << other.x >>
workflows:
  w:
    jobs:
      - j:
          level: low
          colour: red
`;
    expect(problems(text)).toEqual([
      "4:11: pipeline: parameter `flag`: pipeline parameters are string, boolean, integer or enum, not steps",
      '11:18: job `j`: parameter `level`: default must be one of "low", "high", not the string "medium"',
      '14:18: job `j`: parameter `name`: default must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*), not the string "9LIVES"',
      "17:18: job `j`: parameter `list`: default must be a string (quote numbers: '14.10' stays 14.10), not a list",
      expect.stringMatching(/^20:42: `<< pipeline.parameters.nope >>` is not a pipeline value/),
      expect.stringMatching(/^20:73: `<< pipeline.git.nope >>` is not a pipeline value/),
      "20:97: `<< other.x >>` is not a known reference (use parameters.*, pipeline.* or matrix.*; write `\\<<` for a literal `<<`)",
      "26:11: job `j` has no parameter `colour` (it has: level, name, list)",
    ]);
  });

  test("required parameters, recursion, steps that are not steps", () => {
    const text = `version: 2.1
commands:
  loop:
    steps: [loop]
jobs:
  j:
    parameters:
      must: {type: string}
    docker: [{image: a}]
    steps:
      - loop
      - 42
      - {}
      - run
      - when:
          condition: {xor: [true]}
          steps: [checkout]
workflows:
  w:
    jobs: [j]
`;
    expect(problems(text)).toEqual([
      "4:13: command `loop` invokes itself (loop → loop)",
      "12:9: job `j`: a step is a name or a one-key mapping, not number 42",
      "13:9: job `j`: a step is a mapping with exactly one key, the step's name; found none",
      "14:9: `run` needs `command`",
      "16:23: a condition is a value or exactly one of and, or, not, equal, matches; found `xor`",
      "20:12: job `j`: required parameter `must` (string) is missing",
    ]);
  });

  test("a reference inside a multi-line command is reported at its own line and column", () => {
    const text = `version: 2.1
jobs:
  build:
    docker: [{image: a}]
    steps:
      - run:
          name: several lines
          command: |
            echo one
            echo << parameters.missing >> and << parameters.missing >>
            echo << parameters.missing >>
`;
    expect(problems(text)).toEqual([
      "10:18: `<< parameters.missing >>`: job `build` has no parameter `missing`",
      "10:47: `<< parameters.missing >>`: job `build` has no parameter `missing`",
      "11:18: `<< parameters.missing >>`: job `build` has no parameter `missing`",
    ]);
  });

  test("misspellings get a suggestion", () => {
    const text = `version: 2.1
jobs:
  build:
    docker: [{image: a}]
    paralelism: 2
    steps:
      - chekout
      - run: {comand: make}
workflows:
  w:
    jobs:
      - build
      - build:
          name: again
          require: [build]
`;
    expect(problems(text)).toEqual([
      "5:5: job `build`: unknown key `paralelism` (did you mean `parallelism`?)",
      "7:9: job `build`: unknown step `chekout` (did you mean `checkout`?)",
      "8:14: `run` needs `command`",
      "8:15: `run`: unknown key `comand` (did you mean `command`?)",
      "15:11: job `build` has no parameter `require` (did you mean `requires`?)",
    ]);
  });

  test("a misspelt top-level key is a warning (other unknown keys hold anchors and are ignored)", () => {
    const r = parseConfig(
      "version: 2\nreferences: {}\njobs:\n  build: {docker: [{image: a}], steps: [checkout]}\nworkflow: {}\n",
      "c.yml",
    );
    expect(r.errors).toEqual([]);
    expect(r.warnings.map((e) => `${e.line}:${e.col}: ${e.message}`)).toEqual([
      "5:1: top-level key `workflow` is ignored (did you mean `workflows`?)",
    ]);
  });

  /** A workflow whose `when: matches` and branch filter use the given patterns (lines 9 and 14). */
  const withPatterns = (matches: string, only: string) => `version: 2.1
jobs:
  t:
    docker: [{image: x}]
    steps: [checkout]
workflows:
  w:
    when:
      matches: {pattern: "${matches}", value: << pipeline.git.branch >>}
    jobs:
      - t:
          filters:
            branches:
              only: ${only}
`;

  test("a regular expression the linear-time matcher does not run is refused, in filters and `matches`", () => {
    expect(problems(withPatterns("/(a)\\\\1/", "/main(?!-old)/"))).toEqual([
      expect.stringMatching(/^9:\d+: `matches`: invalid regular expression: refused: .*backreference/),
      expect.stringMatching(
        /^14:\d+: .*filters\.branches\.only: invalid regular expression \/main\(\?!-old\)\/: refused: .*lookaround/,
      ),
    ]);
  });

  test("a catastrophic regular expression is accepted: it runs in linear time", () => {
    expect(problems(withPatterns("/(a|a)*b/", "/(a+)+b/"))).toEqual([]);
  });

  test("formatError gives file:line:col: message", () => {
    const [e] = parseConfig("version: 9\n", "x/config.yml").errors;
    expect(formatError(e)).toBe("x/config.yml:1:10: version 9 is not supported: use 2 or 2.1");
  });
});
