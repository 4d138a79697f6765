import { describe, expect, test } from "bun:test";
import { constantTimeEqual, signBody, verifySignature } from "./signature.ts";

const enc = new TextEncoder();

describe("webhook signatures", () => {
  test("GitHub's documented vector", async () => {
    expect(await signBody("It's a Secret to Everybody", "Hello, World!")).toBe(
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    );
    expect(
      await verifySignature(
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "It's a Secret to Everybody",
        enc.encode("Hello, World!"),
      ),
    ).toBe(true);
  });

  test("a missing, malformed, truncated or wrong signature is refused", async () => {
    const body = enc.encode("Hello, World!");
    const good = await signBody("s3cret", body);
    expect(await verifySignature(good, "s3cret", body)).toBe(true);
    expect(await verifySignature(undefined, "s3cret", body)).toBe(false);
    expect(await verifySignature("", "s3cret", body)).toBe(false);
    expect(await verifySignature(good.replace("sha256=", "sha1="), "s3cret", body)).toBe(false);
    expect(await verifySignature(good.slice(0, -1), "s3cret", body)).toBe(false);
    expect(await verifySignature(good, "other", body)).toBe(false);
    expect(await verifySignature(good, "s3cret", enc.encode("Hello, World?"))).toBe(false);
  });

  test("constantTimeEqual", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abd")).toBe(false);
    expect(constantTimeEqual("abc", "ab")).toBe(false);
    expect(constantTimeEqual("", "")).toBe(true);
    expect(constantTimeEqual("", "a")).toBe(false);
  });
});
