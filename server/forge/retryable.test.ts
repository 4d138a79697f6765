import { describe, expect, test } from "bun:test";
import { ForgeError, isRetryable, withRetry } from "./retryable.ts";

const fast = { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 };

describe("forge retries", () => {
  test("network errors, 429 and 5xx are retried; other 4xx are not", () => {
    expect(isRetryable(new TypeError("fetch failed"))).toBe(true);
    expect(isRetryable(new ForgeError("no answer", 0))).toBe(true);
    expect(isRetryable(new ForgeError("slow down", 429))).toBe(true);
    expect(isRetryable(new ForgeError("boom", 500))).toBe(true);
    expect(isRetryable(new ForgeError("bad gateway", 502))).toBe(true);
    expect(isRetryable(new ForgeError("bad token", 401))).toBe(false);
    expect(isRetryable(new ForgeError("no such repo", 404))).toBe(false);
    expect(isRetryable(new ForgeError("invalid", 422))).toBe(false);
  });

  test("a 500 then success: two calls, the result returned", async () => {
    let calls = 0;
    const r = await withRetry(async () => {
      calls++;
      if (calls === 1) throw new ForgeError("boom", 500);
      return "ok";
    }, fast);
    expect({ r, calls }).toEqual({ r: "ok", calls: 2 });
  });

  test("bounded: gives up after the last attempt with the last error", async () => {
    let calls = 0;
    const p = withRetry(async () => {
      calls++;
      throw new ForgeError(`boom ${calls}`, 503);
    }, fast);
    await expect(p).rejects.toThrow("boom 4");
    expect(calls).toBe(4);
  });

  test("a 4xx fails at once", async () => {
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new ForgeError("bad token", 401);
      }, fast),
    ).rejects.toThrow("bad token");
    expect(calls).toBe(1);
  });
});
