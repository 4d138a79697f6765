// `triggers: - schedule:` on a workflow: read and checked, never planned for a push, planned alone
// when its schedule fires.
import { describe, expect, test } from "bun:test";
import { formatError, type ProcessedConfig, parseConfig, planPipeline, renderProcessed } from "./index.ts";

const CONFIG = `version: 2.1
jobs:
  build: {docker: [{image: alpine}], steps: [{run: make}]}
  nightly: {docker: [{image: alpine}], steps: [{run: make soak}]}
workflows:
  push:
    jobs: [build]
  night:
    triggers:
      - schedule:
          cron: "0 3 * * *"
          filters: {branches: {only: [main, /release-.*/]}}
    jobs: [nightly]
`;

const load = (text: string) => {
  const r = parseConfig(text, "c.yml");
  expect(r.errors.map(formatError)).toEqual([]);
  return r.config as ProcessedConfig;
};
const plan = (config: ProcessedConfig, scheduledWorkflows?: string[]) =>
  planPipeline(config, { branch: "main", revision: "abc", parameters: {}, scheduledWorkflows }).map(
    (w) => w.name,
  );

describe("triggers: schedule", () => {
  test("kept on the workflow with its cron and branch filter; no warning", () => {
    const r = parseConfig(CONFIG, "c.yml");
    expect(r.warnings).toEqual([]);
    const night = r.config?.workflows.find((w) => w.name === "night");
    expect(night?.scheduled).toBe(true);
    expect(night?.schedules?.map(({ cron, branches }) => ({ cron, branches }))).toEqual([
      { cron: "0 3 * * *", branches: { only: ["main", "/release-.*/"] } },
    ]);
  });

  test("a push never plans it; its firing plans it alone", () => {
    const config = load(CONFIG);
    expect(plan(config)).toEqual(["push"]);
    expect(plan(config, ["night"])).toEqual(["night"]);
    // A name that is not a scheduled workflow plans nothing.
    expect(plan(config, ["push"])).toEqual([]);
  });

  test("config process shows the triggers as CircleCI writes them", () => {
    expect(renderProcessed(load(CONFIG))).toContain(
      "triggers:\n      - schedule:\n          cron: 0 3 * * *\n          filters:\n            branches:\n              only:\n                - main\n                - /release-.*/",
    );
  });

  test.each([
    ["- schedule: {cron: '0 3 * *', filters: {branches: {only: [main]}}}", /five fields/],
    ["- schedule: {cron: '0 3 * * *'}", /needs `filters: \{branches/],
    ["- schedule: {filters: {branches: {only: [main]}}}", /needs `cron`/],
    ["- nightly: {cron: '0 3 * * *'}", /each trigger is `- schedule/],
    ["- schedule: {cron: '0 3 * * *', at: 1, filters: {branches: {only: [main]}}}", /unknown key `at`/],
  ])("%s is an error", (trigger, message) => {
    const text = CONFIG.replace(/ {6}- schedule:\n.*\n.*\n/, `      ${trigger}\n`);
    const r = parseConfig(text, "c.yml");
    expect(r.errors.map(formatError).join("\n")).toMatch(message);
  });
});
