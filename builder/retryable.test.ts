// The one place that decides retries: a refusal's requested wait wins over backoff.
import { expect, test } from "bun:test";
import { ApiCallError, retryAfterMs, retryDelay } from "./retryable.ts";

test("the wait a refusal asks for: the body's retry_after_ms, else Retry-After seconds", () => {
  const body = (ms: unknown) => ({
    error: { code: "ingest_busy", message: "", details: { retry_after_ms: ms } },
  });
  expect(retryAfterMs("1", body(250))).toBe(250);
  expect(retryAfterMs("2", null)).toBe(2000);
  expect(retryAfterMs(null, body("soon"))).toBeUndefined();
  expect(retryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", null)).toBeUndefined();
  expect(retryAfterMs(null, body(10_000_000))).toBe(60_000);
});

test("a requested wait is taken (with at most a quarter more), else exponential backoff", () => {
  const asked = new ApiCallError(503, "ingest_busy", "behind", null, 400);
  for (let i = 0; i < 20; i++) {
    const ms = retryDelay(asked, 5);
    expect(ms).toBeGreaterThanOrEqual(400);
    expect(ms).toBeLessThanOrEqual(500);
  }
  expect(retryDelay(new ApiCallError(503, "x", "y", null), 0)).toBeLessThanOrEqual(250);
});
