import { expect, test } from "bun:test";
import { allowedOutcomes, isApproval, isNoop, outcome, resourceClassOf } from "./job-rows.ts";

const row = (spec: object) => ({ spec: JSON.stringify(spec) });

test("a job's kind, resource class and accepted outcomes come from its spec", () => {
  expect(isApproval(row({ type: "approval" }))).toBe(true);
  expect(isApproval(row({ type: "build" }))).toBe(false);
  expect(isNoop(row({ type: "no-op" }))).toBe(true);
  expect(resourceClassOf(row({}))).toBe("medium");
  expect(resourceClassOf(row({ resourceClass: "large" }))).toBe("large");
  expect(allowedOutcomes(row({}))).toEqual({});
  expect(allowedOutcomes(row({ requiresStatus: { build: ["failed"] } }))).toEqual({ build: ["failed"] });
});

test("a lost job counts as failed for the jobs that require it", () => {
  expect(outcome({ status: "lost" })).toBe("failed");
  expect(outcome({ status: "canceled" })).toBe("canceled");
});
