// The in-container helper run with sh directly: every split strategy gives disjoint, complete,
// deterministic shares; greedy timings put the heavy files apart; glob matches across directories.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SCRIPT = join(import.meta.dir, "cairn.sh");
let dir: string;

function cairn(args: string[], stdin = "", env: Record<string, string> = {}) {
  const r = spawnSync("sh", [SCRIPT, ...args], {
    cwd: dir,
    input: stdin,
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr, lines: r.stdout.split("\n").filter(Boolean) };
}

function shares(total: number, names: string[], args: string[]): string[][] {
  return Array.from(
    { length: total },
    (_, i) =>
      cairn(["tests", "split", ...args], `${names.join("\n")}\n`, {
        CIRCLE_NODE_INDEX: String(i),
        CIRCLE_NODE_TOTAL: String(total),
      }).lines,
  );
}

const names = Array.from({ length: 23 }, (_, i) => `spec/s${String(i).padStart(2, "0")}_test.rb`);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-split-"));
  mkdirSync(join(dir, "spec"));
  for (const [i, n] of names.entries()) writeFileSync(join(dir, n), "x".repeat((i * 37) % 500));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("cairn tests split", () => {
  for (const by of ["name", "filesize", "timings"]) {
    for (const total of [1, 2, 3, 7]) {
      test(`--split-by=${by} over ${total} slices: disjoint and complete`, () => {
        const parts = shares(total, names, [`--split-by=${by}`]);
        expect(parts.flat().sort()).toEqual([...names].sort());
        expect(new Set(parts.flat()).size).toBe(names.length);
        // Deterministic: the same input gives the same shares.
        expect(shares(total, names, [`--split-by=${by}`])).toEqual(parts);
      });
    }
  }

  test("timings: greedy largest first; unknown names weigh the average; ./ prefixes match", () => {
    writeFileSync(
      join(dir, "timings.tsv"),
      "file\ta.js\t30\nfile\tb.js\t20\nfile\tc.js\t10\nclassname\tA\t99\n",
    );
    const list = ["./a.js", "b.js", "c.js", "d.js", "e.js"];
    const parts = shares(3, list, ["--split-by=timings", `--timings-file=${join(dir, "timings.tsv")}`]);
    // a=30 → 0, b=20 → 1, c=10 → 2, then d and e (average 20) → slice 2 (10), then slice 1 (20 < 30).
    expect(parts).toEqual([["./a.js"], ["b.js", "e.js"], ["c.js", "d.js"]]);
  });

  test("timings by classname read the classname rows", () => {
    writeFileSync(
      join(dir, "timings.tsv"),
      "classname\tHeavy\t100\nclassname\tLight\t1\nclassname\tMid\t2\n",
    );
    const parts = shares(
      2,
      ["Light", "Heavy", "Mid"],
      ["--split-by=timings", "--timings-type=classname", `--timings-file=${join(dir, "timings.tsv")}`],
    );
    expect(parts).toEqual([["Heavy"], ["Light", "Mid"]]);
  });

  test("names come once each, blank lines ignored, in input order within a share", () => {
    const r = cairn(["tests", "split"], "b\n\na\nb\nc\n", { CIRCLE_NODE_INDEX: "0", CIRCLE_NODE_TOTAL: "1" });
    expect(r.lines).toEqual(["b", "a", "c"]);
  });

  test("reads list files given as arguments; empty input prints nothing", () => {
    writeFileSync(join(dir, "list.txt"), "x\ny\n");
    expect(cairn(["tests", "split", "list.txt"]).lines).toEqual(["x", "y"]);
    expect(cairn(["tests", "split"], "").out).toBe("");
  });

  test("bad options exit 2 with a reason", () => {
    expect(cairn(["tests", "split", "--split-by=random"]).code).toBe(2);
    const r = cairn(["tests", "split"], "a\n", { CIRCLE_NODE_INDEX: "3", CIRCLE_NODE_TOTAL: "3" });
    expect(r.code).toBe(2);
    expect(r.err).toContain("outside 0..2");
    expect(cairn(["nope"]).code).toBe(2);
  });
});

describe("cairn tests glob", () => {
  test("** crosses directories; output sorted, once each, files only", () => {
    mkdirSync(join(dir, "g/a/b"), { recursive: true });
    for (const f of ["g/x.js", "g/a/y.js", "g/a/b/z.js", "g/a/b/w.txt"]) writeFileSync(join(dir, f), "");
    const r = cairn(["tests", "glob", "g/**/*.js", "g/x.js"]);
    expect(r.code).toBe(0);
    expect(r.lines).toEqual(["g/a/b/z.js", "g/a/y.js", "g/x.js"]);
  });
});
