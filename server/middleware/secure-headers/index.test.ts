import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { cairnSecureHeaders } from "./index.ts";

const app = (tls: boolean) => {
  const a = new Hono();
  a.use("*", cairnSecureHeaders({ tls }));
  a.get("/ok", (c) => c.json({ ok: true }));
  a.get("/boom", () => {
    throw new Error("boom");
  });
  a.onError((_, c) => c.json({ error: "x" }, 500));
  return a;
};

describe("cairnSecureHeaders", () => {
  test("a strict CSP, nosniff, no framing, no referrer on every response", async () => {
    for (const path of ["/ok", "/missing", "/boom"]) {
      const res = await app(false).request(path);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("object-src 'none'");
      expect(csp).not.toContain("unsafe-inline");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    }
  });

  test("HSTS only when the server speaks TLS", async () => {
    expect((await app(false).request("/ok")).headers.get("strict-transport-security")).toBeNull();
    expect((await app(true).request("/ok")).headers.get("strict-transport-security")).toBe(
      "max-age=31536000; includeSubDomains",
    );
  });
});
