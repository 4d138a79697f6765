import { describe, expect, test } from "bun:test";
import { validateKnownHosts } from "../services/projects.ts";
import { parseForgeSettings } from "./project-forge.ts";

describe("forge settings", () => {
  test("GitHub by default, api.github.com by default, a GHE base kept without its trailing slash", () => {
    expect(parseForgeSettings({ repo: "acme/widgets" })).toEqual({
      settings: { kind: "github", api_url: "https://api.github.com", repo: "acme/widgets" },
      token: undefined,
    });
    expect(
      parseForgeSettings({
        kind: "github",
        repo: "a/b",
        api_url: "https://ghe.example.com/api/v3/",
        token: "t",
      }),
    ).toEqual({
      settings: { kind: "github", api_url: "https://ghe.example.com/api/v3", repo: "a/b" },
      token: "t",
    });
  });
  test("bad values are 400s naming the field", () => {
    for (const bad of [
      null,
      [],
      { repo: "nope" },
      { repo: "a/b", kind: "gitlab" },
      { repo: "a/b", api_url: "ftp://x" },
      { repo: "a/b", token: "" },
    ]) {
      expect(() => parseForgeSettings(bad)).toThrow(/forge/);
    }
  });
});

describe("known_hosts", () => {
  test("host keytype key lines, comments and markers; anything else is refused with its line number", () => {
    const ok =
      "# pinned\n[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBc=\n@cert-authority *.example.com ecdsa-sha2-nistp256 AAAAE2Vj\n";
    expect(validateKnownHosts(ok)).toBe(`${ok.trim()}\n`);
    expect(validateKnownHosts("   ")).toBeNull();
    expect(validateKnownHosts(null)).toBeNull();
    expect(() => validateKnownHosts("github.com\n")).toThrow(/line 1/);
    expect(() => validateKnownHosts("# c\ngithub.com rsa AAAA")).toThrow(/line 2/);
    expect(() => validateKnownHosts(42)).toThrow(/known_hosts/);
  });
});
