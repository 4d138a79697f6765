import { describe, expect, test } from "bun:test";
import { triggerLabel } from "./schedules.ts";

describe("triggerLabel", () => {
  test("a schedule names itself and its actor; a config schedule its workflow", () => {
    expect(
      triggerLabel({
        trigger: "schedule",
        metadata: { schedule: { name: "nightly", source: "api" }, actor: { login: "ada" } },
      }),
    ).toBe("schedule “nightly”, as ada");
    expect(
      triggerLabel({ trigger: "schedule", metadata: { schedule: { name: "soak", source: "config" } } }),
    ).toBe("scheduled workflow soak");
  });

  test("anything else is the trigger as stored", () => {
    expect(triggerLabel({ trigger: "webhook", metadata: { delivery: "x" } })).toBe("webhook");
    expect(triggerLabel({ trigger: "api", metadata: null })).toBe("api");
  });
});
