import { describe, expect, test } from "bun:test";
import { secretHint, validateSecretName, validateSecretValue } from "./hint.ts";

describe("secretHint", () => {
  test("shows the last 4 characters only for values of 12 or more", () => {
    expect(secretHint("abcdefgh1a2b")).toBe("xxxx1a2b");
    expect(secretHint("a-much-longer-secret-value-9z8y")).toBe("xxxx9z8y");
    expect(secretHint("abcdefg1a2b")).toBe("xxxx"); // 11
    expect(secretHint("short")).toBe("xxxx");
    expect(secretHint("")).toBe("xxxx");
  });

  test("never shows more than 4 characters, and never half a character", () => {
    for (let n = 0; n < 100; n++) {
      const value = "s".repeat(n);
      const hint = secretHint(value);
      expect(hint.startsWith("xxxx")).toBe(true);
      expect(hint.length).toBeLessThanOrEqual(8);
    }
    expect(secretHint("🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑")).toBe("xxxx🔑🔑🔑🔑");
  });
});

describe("validateSecretName", () => {
  test("accepts POSIX environment variable names", () => {
    for (const name of ["A", "_", "DEPLOY_TOKEN", "aws_secret", "_X1", `A${"b".repeat(255)}`]) {
      expect(validateSecretName(name)).toBeNull();
    }
  });

  test("rejects invalid, too long and reserved names", () => {
    const bad = [
      "",
      "1ABC",
      "A-B",
      "A B",
      "A.B",
      "É",
      "A=B",
      `A${"b".repeat(256)}`,
      "CAIRN_TOKEN",
      "cairn_x",
      "CIRCLE_SHA1",
    ];
    for (const name of bad) expect(validateSecretName(name)).toBeString();
    expect(validateSecretName("CAIRN_TOKEN")).toContain("reserved");
    expect(validateSecretName(`A${"b".repeat(256)}`)).toContain("256");
  });
});

describe("validateSecretValue", () => {
  test("accepts non-empty values up to 64 KiB and never quotes the value", () => {
    expect(validateSecretValue("v")).toBeNull();
    expect(validateSecretValue("x".repeat(65536))).toBeNull();
    expect(validateSecretValue("")).toContain("empty");
    const tooBig = "ß".repeat(40000); // 80,000 bytes
    expect(validateSecretValue(tooBig)).toContain("80000");
    expect(validateSecretValue(tooBig)).not.toContain("ß");
  });
});
