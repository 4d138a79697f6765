import { describe, expect, test } from "bun:test";
import type { TestCase } from "../types.ts";
import { failuresFirst, formatBytes } from "./job-outputs.ts";

const tc = (name: string, status: TestCase["status"]): TestCase => ({
  suite: "s",
  name,
  classname: "c",
  file: null,
  time: 0,
  status,
  message: null,
});

describe("job outputs", () => {
  test("test results: failures, then errors, skips and passes, each in the report's order", () => {
    const sorted = failuresFirst([
      tc("a", "passed"),
      tc("b", "failed"),
      tc("c", "skipped"),
      tc("d", "error"),
      tc("e", "failed"),
      tc("f", "passed"),
    ]);
    expect(sorted.map((t) => t.name)).toEqual(["b", "e", "d", "c", "a", "f"]);
  });

  test("sizes in bytes and binary units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(2048)).toBe("2.0 KiB");
    expect(formatBytes(150 * 1024)).toBe("150 KiB");
    expect(formatBytes(5 * 1024 ** 3)).toBe("5.0 GiB");
  });
});
