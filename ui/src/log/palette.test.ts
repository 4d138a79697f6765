import { describe, expect, test } from "bun:test";
import { paletteCss, xterm256 } from "./palette.ts";

describe("256-colour palette", () => {
  test("xterm's cube and grey ramp", () => {
    expect(xterm256(16)).toBe("#000000");
    expect(xterm256(196)).toBe("#ff0000");
    expect(xterm256(208)).toBe("#ff8700");
    expect(xterm256(231)).toBe("#ffffff");
    expect(xterm256(232)).toBe("#080808");
    expect(xterm256(255)).toBe("#eeeeee");
    expect(() => xterm256(15)).toThrow();
  });

  test("a class per colour for foreground and background; 0-15 follow the theme", () => {
    const css = paletteCss();
    expect(css).toContain(".fg-1{color:var(--ansi-1)}");
    expect(css).toContain(".bg-208{background-color:#ff8700}");
    expect(css.match(/\.fg-\d+\{/g)?.length).toBe(256);
    expect(css.match(/\.bg-\d+\{/g)?.length).toBe(256);
  });
});
