// Quoting and the env wrapper, proved against the real sh and bash with arbitrary strings.

import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { concatBytes, envBlock, shellCommand, shellQuote, withEnvWrapper } from "./shell.ts";

const noNul = fc.string({ unit: "binary" }).filter((s) => !s.includes("\0"));

describe("shellQuote / shellCommand", () => {
  test("any argument survives a POSIX shell unchanged", () => {
    fc.assert(
      fc.property(fc.array(noNul, { maxLength: 4 }), (args) => {
        const line = shellCommand(["printf", "%s\\0", "start", ...args]);
        const out = spawnSync("sh", ["-c", line]).stdout.toString();
        expect(out).toBe(["start", ...args].map((a) => `${a}\0`).join(""));
      }),
      { numRuns: 150 },
    );
  });

  test("plain words stay bare, everything else is single-quoted", () => {
    expect(shellQuote("lxc-attach")).toBe("lxc-attach");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(() => shellQuote("a\0b")).toThrow(/NUL/);
  });
});

describe("env over stdin", () => {
  test("any names and values reach the command, and stdin after the block is untouched", () => {
    fc.assert(
      fc.property(
        // Prefixed, so no draw is PATH, UID or another name bash treats specially.
        fc.dictionary(
          fc.stringMatching(/^[A-Za-z0-9_]{1,8}$/).map((n) => `CT_${n}`),
          noNul,
          { maxKeys: 4 },
        ),
        noNul,
        (env, rest) => {
          const names = Object.keys(env);
          const probe = 'for n in "$@"; do printenv "$n"; printf "\\0"; done; cat';
          const argv = withEnvWrapper(["bash", "-c", probe, "probe", ...names]);
          const stdin = concatBytes([envBlock(env), new TextEncoder().encode(rest)]);
          const r = spawnSync(argv[0], argv.slice(1), { input: stdin, env: { PATH: process.env.PATH } });
          const values = names.map((n) => `${env[n]}\n\0`).join("");
          expect(r.stdout.toString()).toBe(values + rest);
        },
      ),
      { numRuns: 100 },
    );
  });

  test("bad names are refused before anything runs", () => {
    expect(() => envBlock({ "A B": "x" })).toThrow(/invalid environment variable name/);
    expect(() => envBlock({ "1A": "x" })).toThrow(/invalid/);
    expect(() => envBlock({ A: "x\0y" })).toThrow(/NUL/);
  });
});
