import { describe, expect, test } from "bun:test";
import { parseParameters } from "./project.ts";

describe("trigger form parameters", () => {
  test("one name=value per line, typed as `cairn trigger --param` types them", () => {
    expect(
      parseParameters("deploy=true\n\n  region = eu-west-1 \nretries=3\nnote=a=b\nneg=-2\nv=1.5"),
    ).toEqual({
      deploy: true,
      region: "eu-west-1",
      retries: 3,
      note: "a=b",
      neg: -2,
      v: "1.5",
    });
    expect(parseParameters("   \n")).toEqual({});
  });

  test("a line without a name says which line", () => {
    expect(() => parseParameters("ok=1\nnope")).toThrow('line 2: expected name=value, got "nope"');
    expect(() => parseParameters("=x")).toThrow("line 1");
  });
});
