import { describe, expect, test } from "bun:test";
import {
  bytesEqual,
  fromBase64,
  fromUtf8,
  randomBytes,
  toBase64,
  toBase64Url,
  toHex,
  utf8,
} from "./encoding.ts";

describe("base64", () => {
  test("round-trips every length, including large inputs", () => {
    for (const n of [0, 1, 2, 3, 4, 31, 32, 33, 100_000]) {
      const bytes = randomBytes(n);
      expect(fromBase64(toBase64(bytes))).toEqual(bytes);
    }
  });

  test("accepts only the canonical form", () => {
    expect(fromBase64("AA==")).toEqual(new Uint8Array([0]));
    for (const bad of ["AB==", "AAB=", "AA", "AA=", "A===", "AA==\n", " AA==", "AA-_", "AA==AA==", "*"]) {
      expect(fromBase64(bad)).toBeNull();
    }
  });

  test("base64url has no padding or +/", () => {
    const url = toBase64Url(new Uint8Array([0xfb, 0xff, 0xbf]));
    expect(url).toBe("-_-_");
    expect(toBase64Url(new Uint8Array([1]))).toBe("AQ");
  });
});

test("utf8 decoding is strict", () => {
  expect(fromUtf8(utf8("héllo ✓"))).toBe("héllo ✓");
  expect(() => fromUtf8(new Uint8Array([0xc3]))).toThrow();
});

test("hex, random, equality", () => {
  expect(toHex(new Uint8Array([0, 15, 255]))).toBe("000fff");
  expect(randomBytes(70_000).length).toBe(70_000);
  expect(bytesEqual(utf8("ab"), utf8("ab"))).toBe(true);
  expect(bytesEqual(utf8("ab"), utf8("ac"))).toBe(false);
  expect(bytesEqual(utf8("ab"), utf8("abc"))).toBe(false);
});
