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

  test("an image no rule maps is pulled by the builder, with its auth; a mapped one is only named", () => {
    const table = templateTable({ "cimg/*": "cairn-base" });
    const auth = { username: "me", password: "$DOCKER_PASS" };
    expect(table.imageFor({ kind: "docker", image: "127.0.0.1:5000/t/x:1", auth })).toEqual({
      image: { name: "127.0.0.1:5000/t/x:1", auth },
    });
    expect(table.imageFor({ kind: "docker", image: "cimg/node:20" })).toEqual({
      image_mapped: "cimg/node:20",
    });
    expect(table.imageFor({ kind: "machine", image: "ubuntu-2204:current" })).toEqual({});
    expect(table.imageFor({ kind: "machine" })).toEqual({});
  });

  test("service containers go to the builder as written, their image beside its auth", () => {
    const table = templateTable({ "cimg/*": "cairn-base" });
    const auth = { username: "me", password: "$DOCKER_PASS" };
    const services = [
      { image: "postgres:16", name: "db", environment: { POSTGRES_PASSWORD: "pw" }, command: ["postgres"] },
      { image: "redis:7", auth, user: "redis" },
    ];
    const sent = [
      {
        image: { name: "postgres:16" },
        name: "db",
        environment: { POSTGRES_PASSWORD: "pw" },
        command: ["postgres"],
      },
      { image: { name: "redis:7", auth }, user: "redis" },
    ];
    expect(table.imageFor({ kind: "docker", image: "x:1", services })).toEqual({
      image: { name: "x:1" },
      services: sent,
    });
    expect(table.imageFor({ kind: "docker", image: "cimg/node:20", services })).toEqual({
      image_mapped: "cimg/node:20",
      services: sent,
    });
  });
});
