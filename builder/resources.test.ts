import { expect, test } from "bun:test";
import { autoSlots, Capacity, describeLimits, limitsFor, parseSlots } from "./resources.ts";

test("classes fit while memory lasts, and free up again", () => {
  const cap = new Capacity(11_000);
  expect(cap.fitting()).toEqual(["small", "medium", "medium+", "large", "xlarge", "2xlarge"]); // idle: anything

  const a = cap.reserve("large"); // 8192 MB
  expect(cap.fitting()).toEqual(["small"]);
  const b = cap.reserve("small");
  expect(cap.fitting()).toEqual([]);
  a();
  a(); // releasing twice frees once
  expect(cap.fitting()).toEqual(["small", "medium", "medium+", "large"]);
  b();
  expect(cap.fitting()).toContain("2xlarge");
});

test("a job without a class, or with an unknown one, gets medium's limits", () => {
  expect(limitsFor(undefined)).toEqual({
    cpus: 2,
    memoryBytes: 4096 * 1024 * 1024,
    pids: 4096,
    diskBytes: 20 * 1024 ** 3,
  });
  expect(limitsFor("nope")).toEqual(limitsFor("medium"));
  expect(limitsFor("small").cpus).toBe(1);
});

test("auto slots: one per core while each job still gets medium's memory, never none", () => {
  expect(autoSlots(8, 64 * 1024)).toBe(8);
  expect(autoSlots(8, 12 * 1024)).toBe(3); // memory bounds it: 3 × 4 GiB
  expect(autoSlots(2, 24 * 1024)).toBe(2);
  expect(autoSlots(1, 1024)).toBe(1);
  expect(autoSlots(512, 4096 * 1024)).toBe(256);
  expect(parseSlots("auto")).toBe(autoSlots());
  expect(parseSlots("3")).toBe(3);
  for (const bad of ["0", "257", "1.5", "many", ""]) expect(parseSlots(bad)).toBeUndefined();
});

test("the limits read as the job's log states them", () => {
  expect(describeLimits(limitsFor("small"))).toBe("1 CPU, 2 GiB memory, 4096 processes, 20 GiB disk");
  expect(describeLimits({ cpus: 1.5, pids: 64 })).toBe("1.5 CPUs, 64 processes");
});
