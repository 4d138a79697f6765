import { describe, expect, test } from "bun:test";
import { formatImageRef, parseImageRef, rewriteImage } from "./reference.ts";

const D = `sha256:${"ab".repeat(32)}`;

describe("parseImageRef", () => {
  test("Docker's defaults: docker.io, library/, latest", () => {
    expect(formatImageRef(parseImageRef("alpine"))).toBe("docker.io/library/alpine:latest");
    expect(formatImageRef(parseImageRef("cimg/node:20.11"))).toBe("docker.io/cimg/node:20.11");
    expect(formatImageRef(parseImageRef("index.docker.io/cimg/node:20"))).toBe("docker.io/cimg/node:20");
  });
  test("a registry with a port, a nested repository, a pin", () => {
    expect(parseImageRef(`127.0.0.1:5000/a/b/c:1@${D}`)).toEqual({
      registry: "127.0.0.1:5000",
      repository: "a/b/c",
      tag: "1",
      digest: D,
    });
    expect(parseImageRef(`localhost/x@${D}`)).toEqual({ registry: "localhost", repository: "x", digest: D });
  });
  test("bad names say what is wrong", () => {
    expect(() => parseImageRef("Bad/Name")).toThrow("is not a repository name");
    expect(() => parseImageRef("x@sha256:12")).toThrow("sha256:<64 hex>");
    expect(() => parseImageRef("x:")).toThrow("is not a tag");
  });
});

describe("rewriteImage", () => {
  const mirrors = { "cimg/*": "mirror.internal/cimg/*", "docker.io/*": "mirror.internal/hub/*" };
  test("first matching pattern wins; tag and digest are kept", () => {
    expect(formatImageRef(rewriteImage("cimg/node:20", mirrors))).toBe("mirror.internal/cimg/node:20");
    expect(formatImageRef(rewriteImage(`alpine@${D}`, mirrors))).toBe(
      `mirror.internal/hub/library/alpine@${D}`,
    );
    expect(formatImageRef(rewriteImage("quay.io/x/y:2", mirrors))).toBe("quay.io/x/y:2");
  });
  test("an exact pattern maps one image", () => {
    expect(formatImageRef(rewriteImage("postgres:16", { postgres: "127.0.0.1:5000/pg" }))).toBe(
      "127.0.0.1:5000/pg:16",
    );
  });
});
