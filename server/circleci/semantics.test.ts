// CircleCI 2.1 forms that real configs use and that CircleCI's schema allows (issue 17, item 3).
import { describe, expect, test } from "bun:test";
import { formatError, parseConfig, planPipeline } from "./index.ts";

const parse = (text: string) => {
  const r = parseConfig(text, "c.yml");
  return { ...r, problems: r.errors.map(formatError), notes: r.warnings.map(formatError) };
};
const values = { branch: "main", revision: "abc", parameters: {} };

describe("CircleCI semantics", () => {
  test("job names may hold spaces", () => {
    const { config, problems } = parse(`version: 2.1
jobs:
  Build Docs:
    docker: [{image: x}]
    steps: [checkout]
workflows:
  w:
    jobs: [Build Docs, {deploy docs: {requires: [Build Docs]}}]
`);
    expect(problems).toEqual([
      "c.yml:8:25: workflow `w`: unknown job `deploy docs` (not defined under `jobs:`; approval jobs need `type: approval`)",
    ]);
    const ok = parse(`version: 2.1
jobs:
  Build Docs: {docker: [{image: x}], steps: [checkout]}
workflows:
  w: {jobs: [Build Docs]}
`);
    expect(ok.problems).toEqual([]);
    expect(planPipeline(ok.config!, values)[0].jobs.map((j) => j.name)).toEqual(["Build Docs"]);
    expect(config).toBeUndefined();
  });

  test("environment as a list of one-key mappings (and NAME=value strings)", () => {
    const { config, problems } = parse(`version: 2.1
jobs:
  build:
    docker: [{image: x}]
    environment:
      - A: 1
      - B: two
      - C=three
    steps:
      - run: {command: env, environment: [{D: four}]}
`);
    expect(problems).toEqual([]);
    expect(config?.jobs.build.environment).toEqual({ A: "1", B: "two", C: "three" });
    expect(config?.jobs.build.steps[0]).toMatchObject({ environment: { D: "four" } });
  });

  test("`- steps: << parameters.x >>` splices a steps parameter", () => {
    const { config, problems } = parse(`version: 2.1
commands:
  wrap:
    parameters: {body: {type: steps}}
    steps:
      - run: before
      - steps: << parameters.body >>
      - run: after
jobs:
  build:
    docker: [{image: x}]
    steps:
      - wrap: {body: [{run: middle}]}
`);
    expect(problems).toEqual([]);
    expect(config?.jobs.build.steps.map((s) => (s.type === "run" ? s.command : s.type))).toEqual([
      "before",
      "middle",
      "after",
    ]);
  });

  test("`type: no-op` jobs need no executor or steps and plan as no-op", () => {
    const { config, problems } = parse(`version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [checkout]}
  ok-to-deploy: {type: no-op}
  bad: {type: no-op, steps: [checkout]}
workflows:
  w:
    jobs: [build, {ok-to-deploy: {requires: [build]}}]
`);
    expect(problems).toEqual(["c.yml:5:22: job `bad`: a no-op job has no `steps` (it runs nothing)"]);
    expect(config).toBeUndefined();
    const ok = parse(`version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [checkout]}
  ok-to-deploy: {type: no-op}
workflows:
  w:
    jobs: [build, {ok-to-deploy: {requires: [build]}}]
`);
    expect(ok.problems).toEqual([]);
    const [plan] = planPipeline(ok.config!, values);
    expect(plan.jobs[1]).toMatchObject({ name: "ok-to-deploy", type: "no-op", steps: [] });
  });

  test("requires with statuses: a list, one status, or terminal", () => {
    const { config, problems } = parse(`version: 2.1
jobs:
  a: {docker: [{image: x}], steps: [checkout]}
  b: {docker: [{image: x}], steps: [checkout]}
workflows:
  w:
    jobs:
      - a
      - b: {requires: [{a: [success, failed]}]}
      - b: {name: c, requires: [{a: failed}]}
      - b: {name: d, requires: [{a: terminal}, c]}
      - b: {name: e, requires: [{a: [broken]}]}
`);
    expect(problems).toEqual([
      'c.yml:12:38: workflow `w`: job `e`: requires `a`: a status is one of success, failed, canceled, not_run, unauthorized (or `terminal` alone), not the string "broken"',
    ]);
    expect(config).toBeUndefined();
    const ok = parse(`version: 2.1
jobs:
  a: {docker: [{image: x}], steps: [checkout]}
  b: {docker: [{image: x}], steps: [checkout]}
workflows:
  w:
    jobs:
      - a
      - b: {requires: [{a: [success, failed]}]}
      - b: {name: d, requires: [{a: terminal}, b]}
`);
    const [plan] = planPipeline(ok.config!, values);
    expect(plan.jobs.map((j) => [j.name, j.requires, j.requiresStatus])).toEqual([
      ["a", [], undefined],
      ["b", ["a"], { a: ["success", "failed"] }],
      ["d", ["a", "b"], { a: ["success", "failed", "canceled", "not_run", "unauthorized"] }],
    ]);
  });

  test("a matrix exclude that matches nothing is ignored, with a warning", () => {
    const { config, problems, notes } = parse(`version: 2.1
jobs:
  t:
    parameters: {v: {type: string}}
    docker: [{image: x}]
    steps: [checkout]
workflows:
  w:
    jobs:
      - t:
          matrix:
            parameters: {v: ["1", "2"]}
            exclude: [{v: "3"}, {v: "2"}]
`);
    expect(problems).toEqual([]);
    expect(notes).toEqual([
      "c.yml:13:23: job `t`: `matrix`: this `exclude` combination is not in the matrix; it is ignored",
    ]);
    expect(config?.workflows[0].jobs.map((j) => j.name)).toEqual(["t-1"]);
  });

  test("`when:` on every built-in step", () => {
    const { config, problems } = parse(`version: 2.1
jobs:
  build:
    docker: [{image: x}]
    steps:
      - checkout: {when: always}
      - run: {command: make test, when: on_success}
      - store_test_results: {path: results, when: always}
      - store_artifacts: {path: out, when: on_fail}
      - restore_cache: {key: k, when: always}
      - persist_to_workspace: {root: ., paths: [a], when: always}
      - attach_workspace: {at: ., when: always}
      - add_ssh_keys: {when: always}
`);
    expect(problems).toEqual([]);
    expect(config?.jobs.build.steps.map((s) => ("when" in s ? s.when : undefined))).toEqual([
      "always",
      "on_success",
      "always",
      "on_fail",
      "always",
      "always",
      "always",
      "always",
    ]);
  });
});
