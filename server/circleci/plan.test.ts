// planPipeline: filters for branches and tags, approvals, requires order, matrix, pipeline values.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { corpusPath } from "../../tests/support/corpus.ts";
import { matches } from "./filters.ts";
import {
  formatError,
  type JobSpec,
  PipelinePlanError,
  type PipelineValues,
  type ProcessedConfig,
  parseConfig,
  planPipeline,
} from "./index.ts";

const load = (text: string) => {
  const r = parseConfig(text, "c.yml");
  expect(r.errors.map(formatError)).toEqual([]);
  return r.config as ProcessedConfig;
};
const features = load(readFileSync(join(import.meta.dir, "fixtures", "features.yml"), "utf8"));
const values = (v: Partial<PipelineValues>): PipelineValues => ({ revision: "abc123", parameters: {}, ...v });
const names = (config: ProcessedConfig, v: Partial<PipelineValues>) =>
  Object.fromEntries(planPipeline(config, values(v)).map((w) => [w.name, w.jobs.map((j) => j.name)]));
const runsOf = (j: JobSpec | undefined) =>
  (j?.steps ?? []).flatMap((s) => (s.type === "run" ? [s.command] : []));

describe("planPipeline", () => {
  test("a push to main: every job, in requires order, approvals as approval jobs", () => {
    const [wf] = planPipeline(features, values({ branch: "main", number: 42 }));
    expect(wf.name).toBe("build");
    expect(wf.jobs.map((j) => j.name)).toEqual([
      "test-18.0-1",
      "test-20.11-1",
      "test-20.11-2",
      "coverage",
      "on-vm",
      "hold",
      "deploy",
    ]);
    const hold = wf.jobs.find((j) => j.name === "hold");
    expect(hold).toMatchObject({
      type: "approval",
      executor: { kind: "none" },
      steps: [],
      requires: ["test-18.0-1", "test-20.11-1", "test-20.11-2", "coverage"],
    });
    const deploy = wf.jobs.find((j) => j.name === "deploy");
    expect(deploy).toMatchObject({
      job: "deploy",
      type: "build",
      contexts: ["prod-secrets", "shared"],
      requires: ["hold"],
      workingDirectory: "~/app",
    });
    expect(runsOf(deploy)).toEqual(["./deploy --number 42"]);
    const matrixJob = wf.jobs.find((j) => j.name === "test-20.11-2");
    expect(matrixJob).toMatchObject({
      job: "test",
      parallelism: 2,
      resourceClass: "medium",
      executor: { kind: "docker", image: "cimg/node:20.11" },
    });
    // The release-only step is decided now that the branch is known.
    expect(runsOf(matrixJob).some((c) => c.includes("release branch"))).toBe(false);
  });

  test("branch filters: only/ignore, /regex/ anchored at both ends", () => {
    expect(names(features, { branch: "feature/x" }).build).not.toContain("deploy");
    expect(names(features, { branch: "release/1.2" }).build).toContain("deploy");
    expect(names(features, { branch: "not-release/1.2" }).build).not.toContain("deploy");
    const [wf] = planPipeline(features, values({ branch: "release/1.2" }));
    expect(runsOf(wf.jobs[0])).toContain('echo "release branch release/1.2 at abc123"');
  });

  test("tags: only jobs with tag filters run, and only with every requirement running too", () => {
    const config = load(`version: 2.1
jobs:
  build: {docker: [{image: a}], steps: [checkout]}
  publish: {docker: [{image: a}], steps: [{run: npm publish}]}
  lint: {docker: [{image: a}], steps: [{run: npm run lint}]}
workflows:
  release:
    jobs:
      - build:
          filters: {tags: {only: /^v\\d+\\.\\d+\\.\\d+$/}}
      - approve:
          type: approval
          requires: [build]
          filters: {tags: {only: /^v.*/}, branches: {ignore: /.*/}}
      - publish:
          requires: [approve]
          filters: {tags: {only: /^v.*/}, branches: {ignore: /.*/}}
      - lint
      - after-lint:
          type: approval
          requires: [lint]
          filters: {tags: {only: /.*/}}
`);
    expect(names(config, { tag: "v1.2.3" })).toEqual({ release: ["build", "approve", "publish"] });
    expect(names(config, { tag: "v1.2" })).toEqual({}); // build does not match, so nothing after it runs
    expect(names(config, { branch: "main" })).toEqual({ release: ["build", "lint", "after-lint"] });
  });

  test("tags: `ignore` alone selects every other tag", () => {
    const config = load(`version: 2
jobs:
  build: {docker: [{image: a}], steps: [checkout]}
workflows:
  version: 2
  w:
    jobs:
      - build:
          filters: {tags: {ignore: [wip, /tmp-.*/]}}
`);
    expect(names(config, { tag: "v1" })).toEqual({ w: ["build"] });
    expect(names(config, { tag: "wip" })).toEqual({});
    expect(names(config, { tag: "tmp-3" })).toEqual({});
  });

  test("requires order is a stable topological order, whatever order jobs are written in", () => {
    const config = load(`version: 2.1
jobs:
  j: {docker: [{image: a}], steps: [checkout]}
workflows:
  w:
    jobs:
      - j: {name: deploy, requires: [test, lint]}
      - j: {name: test, requires: [build]}
      - j: {name: lint, requires: [build]}
      - j: {name: build}
`);
    const [wf] = planPipeline(config, values({ branch: "main" }));
    expect(wf.jobs.map((j) => [j.name, j.job, j.requires])).toEqual([
      ["build", "j", []],
      ["test", "j", ["build"]],
      ["lint", "j", ["build"]],
      ["deploy", "j", ["test", "lint"]],
    ]);
  });

  test("pipeline parameters select workflows and fill values; wrong ones are refused", () => {
    expect(Object.keys(names(features, { branch: "main", parameters: { deploy: true } }))).toEqual([
      "build",
      "nightly",
    ]);
    const [wf] = planPipeline(features, values({ branch: "main", parameters: { region: "us" } }));
    const deploy = wf.jobs.find((j) => j.name === "deploy");
    expect(deploy?.steps[1]).toMatchObject({
      name: "Deploy to us",
      environment: { TARGET: "us" },
      when: "always",
    });
    expect(() => planPipeline(features, values({ parameters: { region: "asia" } }))).toThrow(
      PipelinePlanError,
    );
    try {
      planPipeline(features, values({ parameters: { nope: 1 } }));
    } catch (e) {
      expect(e).toBeInstanceOf(PipelinePlanError);
      expect((e as PipelinePlanError).code).toBe("config_invalid");
      expect((e as PipelinePlanError).errors.map((x) => x.message)).toEqual([
        "pipeline parameter `nope` was given but is not declared under `parameters:`",
      ]);
    }
  });

  test("workflow when/unless on pipeline values", () => {
    const config = load(`version: 2.1
parameters:
  nightly: {type: boolean, default: false}
jobs:
  j: {docker: [{image: a}], steps: [checkout]}
workflows:
  on-main:
    when: {equal: [main, << pipeline.git.branch >>]}
    jobs: [j]
  not-nightly:
    unless: << pipeline.parameters.nightly >>
    jobs: [j]
  release-branches:
    when:
      and:
        - not: << pipeline.parameters.nightly >>
        - matches: {pattern: "^release/.+$", value: << pipeline.git.branch >>}
    jobs: [j]
`);
    expect(Object.keys(names(config, { branch: "main" }))).toEqual(["on-main", "not-nightly"]);
    expect(Object.keys(names(config, { branch: "release/2", parameters: { nightly: true } }))).toEqual([]);
    expect(Object.keys(names(config, { branch: "release/2" }))).toEqual(["not-nightly", "release-branches"]);
  });

  test("version 2 without workflows runs `build`; scheduled workflows never run for a push", () => {
    const config = load(
      "version: 2\njobs:\n  build:\n    docker: [{image: node:20}]\n    steps: [checkout, {run: make}]\n",
    );
    const plans = planPipeline(config, values({ branch: "any" }));
    expect(plans.map((w) => [w.name, w.jobs.map((j) => j.name)])).toEqual([["workflow", ["build"]]]);
    expect(plans[0].jobs[0]).toEqual({
      name: "build",
      job: "build",
      type: "build",
      executor: { kind: "docker", image: "node:20" },
      steps: [
        { type: "checkout" },
        {
          type: "run",
          name: "make",
          command: "make",
          environment: {},
          background: false,
          when: "on_success",
        },
      ],
      environment: {},
      workingDirectory: "~/project",
      parallelism: 1,
      requires: [],
      contexts: [],
    });
    const vue = parseConfig(readFileSync(corpusPath("circleci", "vuejs__vue__config.yml"), "utf8"), "vue.yml")
      .config as ProcessedConfig;
    expect(Object.keys(names(vue, { branch: "dev" }))).toEqual(["install-and-parallel-test"]);
  });

  test("context as a single string; job-level names", () => {
    const config = load(`version: 2.1
jobs:
  j: {docker: [{image: a}], steps: [checkout]}
workflows:
  w:
    jobs:
      - j: {name: first, context: org-global}
`);
    expect(planPipeline(config, values({ branch: "x" }))[0].jobs[0]).toMatchObject({
      name: "first",
      job: "j",
      contexts: ["org-global"],
    });
  });

  test("filter patterns: plain names match exactly, /regex/ must match the whole name", () => {
    expect(matches("main", "main")).toBe(true);
    expect(matches("main", "main2")).toBe(false);
    expect(matches("/release/", "release/1")).toBe(false);
    expect(matches("/release\\/.*/", "release/1")).toBe(true);
    expect(matches("/a|b/", "a")).toBe(true);
    expect(matches("/a|b/", "ab")).toBe(false);
  });
});
