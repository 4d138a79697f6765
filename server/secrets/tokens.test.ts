import { describe, expect, test } from "bun:test";
import { hashToken, newToken, TOKEN_PREFIXES, tokenPrefix, tokensEqual } from "./tokens.ts";

describe("tokens", () => {
  test("carry a recognisable prefix and 32 random bytes of base64url", () => {
    for (const prefix of Object.values(TOKEN_PREFIXES)) {
      const token = newToken(prefix);
      expect(token).toMatch(new RegExp(`^${prefix}_[A-Za-z0-9_-]{43}$`));
      expect(tokenPrefix(token)).toBe(prefix);
    }
    const many = new Set(Array.from({ length: 1000 }, () => newToken("cairn_pat")));
    expect(many.size).toBe(1000);
  });

  test("custom prefixes must be lowercase snake_case", () => {
    expect(newToken("cairn_ssh").startsWith("cairn_ssh_")).toBe(true);
    for (const bad of ["", "Cairn", "cairn-pat", "cairn_", "_x", "9x"])
      expect(() => newToken(bad)).toThrow(TypeError);
  });

  test("tokenPrefix rejects what newToken could not have made", () => {
    expect(tokenPrefix("cairn_pat_short")).toBeNull();
    expect(tokenPrefix(`cairn_pat_${"a".repeat(42)}!`)).toBeNull();
    expect(tokenPrefix(`cairn_pat_${"a".repeat(44)}`)).toBeNull();
    expect(tokenPrefix(`${"a".repeat(43)}`)).toBeNull();
    // A random part starting with "_" still splits at the right place.
    expect(tokenPrefix(`cairn_bld__${"b".repeat(42)}`)).toBe("cairn_bld");
  });

  test("hashToken is SHA-512 hex: stable, distinct, and not the token", () => {
    const token = newToken("cairn_pat");
    const hash = hashToken(token);
    expect(hash).toMatch(/^[0-9a-f]{128}$/);
    expect(hashToken(token)).toBe(hash);
    expect(hashToken(newToken("cairn_pat"))).not.toBe(hash);
    expect(hash).not.toContain(token.slice(10));
    // Known answer: SHA-512("abc").
    expect(hashToken("abc")).toBe(
      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    );
  });

  test("tokensEqual compares exactly", () => {
    const token = newToken("cairn_pat");
    expect(tokensEqual(token, token)).toBe(true);
    expect(tokensEqual(token, `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`)).toBe(false);
    expect(tokensEqual(token, token.slice(0, -1))).toBe(false);
    expect(tokensEqual("", "")).toBe(true);
    expect(tokensEqual(hashToken(token), hashToken(token))).toBe(true);
  });
});
