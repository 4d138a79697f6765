// Dynamic configuration: a `setup: true` config plans like any other, its jobs marked as setup jobs
// (they get a continuation key); a continuation config may not be a setup config, and its pipeline
// parameters must be declared.
import { describe, expect, test } from "bun:test";
import { formatError, PipelinePlanError, parseConfig, planPipeline } from "./index.ts";

const SETUP = `version: 2.1
setup: true
jobs:
  generate:
    docker: [{image: cimg/base:current}]
    steps:
      - run: echo generating
workflows:
  setup:
    jobs: [generate]
`;

const CONTINUATION = `version: 2.1
parameters:
  target:
    type: string
    default: all
jobs:
  build:
    docker: [{image: cimg/base:current}]
    steps:
      - run: echo building << pipeline.parameters.target >>
workflows:
  continued:
    jobs: [build]
`;

const values = { branch: "main", revision: "0123abcd", parameters: {} };

describe("setup configs", () => {
  test("`setup: true` is accepted and its jobs are setup jobs", () => {
    const { config, errors } = parseConfig(SETUP, "config.yml");
    expect(errors.map(formatError)).toEqual([]);
    expect(config?.setup).toBe(true);
    const [wf] = planPipeline(config!, values);
    expect(wf.name).toBe("setup");
    expect(wf.jobs.map((j) => [j.name, j.setup])).toEqual([["generate", true]]);
  });

  test("`setup: false` is an ordinary config; its jobs are not setup jobs", () => {
    const { config } = parseConfig(SETUP.replace("setup: true", "setup: false"), "config.yml");
    expect(config?.setup).toBeUndefined();
    expect(planPipeline(config!, values)[0].jobs[0].setup).toBeUndefined();
  });

  test("`setup` must be a boolean", () => {
    const { errors } = parseConfig(SETUP.replace("setup: true", "setup: yes please"), "config.yml");
    expect(errors.map(formatError)).toEqual([
      'config.yml:2:8: `setup` is true or false, not the string "yes please"',
    ]);
  });
});

describe("continuation configs", () => {
  test("a continuation plans with the parameters it declares", () => {
    const { config, errors } = parseConfig(CONTINUATION, "continuation", { continuation: true });
    expect(errors).toEqual([]);
    const [wf] = planPipeline(config!, { ...values, parameters: { target: "docs" } });
    expect(wf.name).toBe("continued");
    expect(wf.jobs[0].setup).toBeUndefined();
    expect(JSON.stringify(wf.jobs[0].steps)).toContain("echo building docs");
  });

  test("a continuation cannot itself be a setup config", () => {
    const { config, errors } = parseConfig(SETUP, "continuation", { continuation: true });
    expect(config).toBeUndefined();
    expect(errors.map(formatError)).toEqual([
      "continuation:2:8: a continuation config cannot itself be a setup config (`setup: true`): a pipeline continues once",
    ]);
  });

  test("a parameter the continuation does not declare is refused", () => {
    const { config } = parseConfig(CONTINUATION, "continuation", { continuation: true });
    expect(() => planPipeline(config!, { ...values, parameters: { nope: 1 } })).toThrow(PipelinePlanError);
  });
});
