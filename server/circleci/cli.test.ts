// The CLI as a user runs it: a real `bun server/cairn-cli.ts` process, its exit code and its output.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { corpusPath } from "../../tests/support/corpus.ts";
import { runConfigCli } from "./cli.ts";

const ROOT = join(import.meta.dir, "../..");
const CORPUS = corpusPath("circleci");

async function cairn(...args: string[]) {
  const proc = Bun.spawn([process.execPath, "server/cairn-cli.ts", ...args], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr: stderr.split("\n").filter(Boolean) };
}

describe("cairn config", () => {
  test("validate: a valid file exits 0 and says so", async () => {
    const r = await cairn("config", "validate", "server/circleci/fixtures/features.yml");
    expect(r).toEqual({ code: 0, stdout: "server/circleci/fixtures/features.yml: valid\n", stderr: [] });
  });

  test("validate: warnings go to stderr but the file is valid", async () => {
    const file = join(CORPUS, "yarnpkg__yarn__config.yml");
    const r = await cairn("config", "validate", file);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${file}: valid\n`);
    expect(r.stderr.length).toBeGreaterThan(0);
    for (const line of r.stderr) expect(line).toMatch(/^\S+:\d+:\d+: warning: /);
    expect(r.stderr.some((l) => l.includes("job `test-macos-node10`: macos executor"))).toBe(true);
  });

  test("validate: a config with service containers is valid, with no warning", async () => {
    const file = join(CORPUS, "CircleCI-Public__circleci-demo-ruby-rails__config.yml");
    const r = await cairn("config", "validate", file);
    expect(r).toEqual({ code: 0, stdout: `${file}: valid\n`, stderr: [] });
  });

  test("validate: an invalid file exits 1 with one file:line:col: message line per problem", async () => {
    const r = await cairn("config", "validate", "server/circleci/fixtures/errors.yml");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.length).toBe(18);
    for (const line of r.stderr) expect(line).toMatch(/^server\/circleci\/fixtures\/errors\.yml:\d+:\d+: \S/);
    expect(r.stderr[0]).toStartWith(
      "server/circleci/fixtures/errors.yml:4:3: orb `node` (circleci/node@5.0): circleci/node has no published version matching 5.0; publish it with",
    );
  });

  test("process: prints the expanded config; refuses an invalid one", async () => {
    const ok = await cairn("config", "process", "server/circleci/fixtures/features.yml");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toStartWith("version: 2.1\n");
    expect(ok.stdout).toContain("      - image: cimg/node:22.0\n");
    const bad = await cairn("config", "process", join(CORPUS, "angular__angular-cli__config.yml"));
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe("");
    expect(bad.stderr.length).toBe(4);
  });

  test("usage mistakes exit 2", async () => {
    expect((await cairn("config", "validate")).code).toBe(2);
    expect((await cairn("config", "lint", "x.yml")).stderr[0]).toBe("unknown config command: lint");
    expect((await cairn("nope")).code).toBe(2);
    expect((await cairn()).code).toBe(2);
    expect((await cairn("config", "validate", "/nonexistent/config.yml")).code).toBe(2);
  });

  test("runConfigCli takes its io, so the server can call it in-process", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-config-"));
    writeFileSync(
      join(dir, "config.yml"),
      "version: 2\njobs:\n  build:\n    docker: [{image: a}]\n    steps: [checkout]\n",
    );
    let out = "";
    const code = await runConfigCli(["validate", join(dir, "config.yml")], {
      stdout: (t) => (out += t),
      stderr: () => {},
    });
    expect(code).toBe(0);
    expect(out).toBe(`${join(dir, "config.yml")}: valid\n`);
  });
});
