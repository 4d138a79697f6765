import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import type { ApiError } from "../../errors.ts";
import { wsOrigin } from "./index.ts";

function app(publicUrl?: string) {
  const a = new Hono();
  a.onError((err, c) => c.json({ code: (err as ApiError).code }, (err as ApiError).status));
  a.get("/ws", wsOrigin({ publicUrl }), (c) => c.text("upgraded"));
  return a;
}

const status = async (a: Hono, headers: Record<string, string>) =>
  (await a.request("http://ci.internal:8080/ws", { headers })).status;

describe("wsOrigin", () => {
  test("the server's own origin, or no Origin at all (not a browser), passes", async () => {
    const a = app();
    expect(await status(a, { host: "ci.internal:8080", origin: "http://ci.internal:8080" })).toBe(200);
    expect(await status(a, { host: "ci.internal:8080" })).toBe(200);
  });

  test("another site, another port, null and non-web schemes are 403", async () => {
    const a = app();
    for (const origin of [
      "https://evil.example",
      "http://ci.internal:9999",
      "null",
      "file://",
      "chrome-extension://x",
    ])
      expect(await status(a, { host: "ci.internal:8080", origin })).toBe(403);
  });

  test("behind a proxy, CAIRN_PUBLIC_URL's origin passes", async () => {
    const a = app("https://ci.example.org/");
    expect(await status(a, { host: "ci.internal:8080", origin: "https://ci.example.org" })).toBe(200);
    expect(await status(a, { host: "ci.internal:8080", origin: "http://ci.example.org" })).toBe(403);
  });
});
