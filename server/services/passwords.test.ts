// The password port and the sign-in limiter's sliding window, with a fake clock.
import { describe, expect, test } from "bun:test";
import { requireHasher, runtimeHasher, SignInLimiter } from "./passwords.ts";

describe("SignInLimiter", () => {
  test("refuses after max failures until the oldest leaves the window", () => {
    let now = 1_000_000;
    const limiter = new SignInLimiter(3, 60_000, () => now);
    for (let i = 0; i < 3; i++) {
      expect(limiter.retryAfter("ip\nbob")).toBe(0);
      limiter.fail("ip\nbob");
      now += 10_000;
    }
    // Failures at 0 s, 10 s, 20 s; now 30 s: the first leaves the window at 60 s.
    expect(limiter.retryAfter("ip\nbob")).toBe(30);
    expect(limiter.retryAfter("ip\nalice")).toBe(0);
    now += 30_001;
    expect(limiter.retryAfter("ip\nbob")).toBe(0);
  });

  test("a success forgets the key's failures", () => {
    const limiter = new SignInLimiter(2, 60_000, () => 5);
    limiter.fail("k");
    limiter.succeed("k");
    limiter.fail("k");
    expect(limiter.retryAfter("k")).toBe(0);
  });
});

describe("the password port", () => {
  test("argon2id on Bun; a missing hasher is a 501", async () => {
    const hasher = requireHasher(runtimeHasher());
    const hash = await hasher.hash("a long enough password");
    expect(hash).toStartWith("$argon2id$");
    expect(await hasher.verify("a long enough password", hash)).toBe(true);
    expect(await hasher.verify("another password", hash)).toBe(false);
    expect(() => requireHasher(null)).toThrow(
      expect.objectContaining({ status: 501, code: "passwords_unavailable" }),
    );
  });
});
