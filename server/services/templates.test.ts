import { describe, expect, test } from "bun:test";
import { templateTable, templateTableFromEnv } from "./templates.ts";

describe("image → template table", () => {
  const table = templateTable(
    { "cimg/node:*": "node-20", "ubuntu-2204:*": "ubuntu", "cimg/*": "cimg-any" },
    "cairn-base",
  );

  test("first match wins, wildcards match any text, the rest falls back", () => {
    expect(table.templateFor({ kind: "docker", image: "cimg/node:20.1" })).toBe("node-20");
    expect(table.templateFor({ kind: "docker", image: "cimg/ruby:3.2" })).toBe("cimg-any");
    expect(table.templateFor({ kind: "machine", image: "ubuntu-2204:current" })).toBe("ubuntu");
    expect(table.templateFor({ kind: "machine" })).toBe("cairn-base");
    expect(table.templateFor({ kind: "docker", image: "xcimg/node:1" })).toBe("cairn-base");
  });

  test("dots in a pattern are literal", () => {
    expect(templateTable({ "a.b": "t" }).templateFor({ kind: "docker", image: "axb" })).toBe("cairn-base");
  });

  test("bad configuration is refused with a clear message", () => {
    expect(() => templateTableFromEnv({ CAIRN_TEMPLATES: "nope" })).toThrow(/JSON object/);
    expect(() => templateTableFromEnv({ CAIRN_TEMPLATES: '["x"]' })).toThrow(/JSON object/);
    expect(() => templateTableFromEnv({ CAIRN_TEMPLATES: '{"x":"../etc"}' })).toThrow(/not a container name/);
    expect(templateTableFromEnv({ CAIRN_DEFAULT_TEMPLATE: "base2" }).templateFor({ kind: "machine" })).toBe(
      "base2",
    );
  });
});
