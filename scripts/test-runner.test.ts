// `npm test`'s runner (scripts/test.ts) on fixture files run by a real `bun test`: what it says of
// failures at the end of the run, and how it treats a lane whose Bun crashed.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { failureSummary, failuresOf, runBun, runLane, suitesOf } from "./test";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-runner-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fixture test file in the fixture folder, and the `bun test` arguments that run it with a report. */
function fixture(name: string, source: string) {
  writeFileSync(join(dir, name), source);
  const report = join(dir, `${name}.xml`);
  rmSync(report, { force: true });
  return { report, argv: ["--reporter=junit", `--reporter-outfile=${report}`, `./${name}`] };
}

const quiet = () => {
  const out: string[] = [];
  return { out, write: (s: string) => void out.push(s) };
};

describe("what failed, at the end of the run", () => {
  test("each failure with its file and line, describe > name, and its message's first lines", async () => {
    const { report, argv } = fixture(
      "fails.test.ts",
      `import { describe, expect, test } from "bun:test";
describe("group", () => {
  test('fails <here> & "there"', () => { expect(1 + 1).toBe(3); });
  test("passes", () => {});
});
test("a long message", () => { throw new Error(Array.from({ length: 20 }, (_, i) => "line " + i).join("\\n")); });
`,
    );
    const { write } = quiet();
    const ran = await runBun("fixture", argv, true, dir, write);
    expect(ran.code).toBe(1);
    expect(ran.crash).toBeUndefined();
    const run = {
      lane: "fixture",
      files: ["fails.test.ts"],
      code: ran.code,
      seconds: 1,
      report,
      tail: ran.tail,
    };

    const failures = failuresOf(suitesOf(run));
    expect(failures.map((f) => [f.file, f.line, f.name])).toEqual([
      ["fails.test.ts", "3", 'group > fails <here> & "there"'],
      ["fails.test.ts", "6", "a long message"],
    ]);
    expect(failures[0].message).toContain("Expected: 3");

    const summary = failureSummary([run]).join("\n");
    expect(summary).toContain('[fixture] fails.test.ts:3  group > fails <here> & "there"');
    expect(summary).toContain("Received: 2");
    expect(summary).toContain("line 7");
    expect(summary).not.toContain("line 8");
    expect(summary).toMatch(/… \d+ more lines in the log/);
    expect(summary).not.toContain("passes");
  });

  test("a run that passed has nothing to say", async () => {
    const { report, argv } = fixture(
      "passes.test.ts",
      `import { test } from "bun:test"; test("ok", () => {});`,
    );
    const ran = await runBun("fixture", argv, true, dir, quiet().write);
    expect(ran.code).toBe(0);
    expect(failureSummary([{ lane: "fixture", files: ["passes.test.ts"], ...ran, report }])).toEqual([]);
  });

  test("a test that prints Bun's crash banner and passes is not a crash", async () => {
    const { argv } = fixture(
      "banner.test.ts",
      `import { test } from "bun:test";
test("prints", () => { console.log("panic(main thread): Segmentation fault"); console.log("oh no: Bun has crashed."); });`,
    );
    const out = quiet();
    const ran = await runLane("fixture", argv, dir, out.write);
    expect(ran.code).toBe(0);
    expect(ran.crash).toBeUndefined();
    expect(ran.crashedOnce).toBeUndefined();
  });
});

describe("a lane whose Bun crashed", () => {
  test("runs again once, says so, and counts the second run", async () => {
    const marker = join(dir, "crashed-once");
    const { report, argv } = fixture(
      "crash-once.test.ts",
      `import { test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
test("before", () => {});
test("faults the first time", () => {
  if (!existsSync(${JSON.stringify(marker)})) {
    writeFileSync(${JSON.stringify(marker)}, "");
    process.kill(process.pid, "SIGSEGV");
  }
});
test("after", () => {});
`,
    );
    const out = quiet();
    const ran = await runLane("fixture", argv, dir, out.write);
    expect(existsSync(marker)).toBe(true);
    expect(ran.code).toBe(0);
    expect(ran.crash).toBeUndefined();
    expect(ran.crashedOnce).toBe("killed by SIGSEGV");
    expect(out.out.join("")).toMatch(
      /lane fixture: Bun crashed after \d+ s \(killed by SIGSEGV\).*runs again, once/,
    );
    expect(ran.results.map((r) => r.replace(/ \[.*$/, ""))).toEqual([
      "(pass) before",
      "(pass) faults the first time",
      "(pass) after",
    ]);
    const run = { lane: "fixture", files: ["crash-once.test.ts"], ...ran, report };
    expect(failuresOf(suitesOf(run))).toEqual([]);
    expect(failureSummary([run])).toEqual([
      "  [fixture] Bun crashed on the lane's first run (killed by SIGSEGV); it ran again",
    ]);
  });

  test("a second crash fails the lane, and the summary shows its last lines", async () => {
    const { report, argv } = fixture(
      "crash-always.test.ts",
      `import { test } from "bun:test";
test("before", () => { console.log("last words"); });
test("faults", () => { process.kill(process.pid, "SIGSEGV"); });
`,
    );
    const out = quiet();
    const ran = await runLane("fixture", argv, dir, out.write);
    expect(ran.code).not.toBe(0);
    expect(ran.crash).toBe("killed by SIGSEGV");
    expect(ran.crashedOnce).toBe("killed by SIGSEGV");
    const run = { lane: "fixture", files: ["crash-always.test.ts"], ...ran, report };
    const failures = failuresOf(suitesOf(run));
    expect(failures.map((f) => f.name)).toContain(
      `bun test exited ${ran.code} without a report (see the [fixture] log)`,
    );
    const summary = failureSummary([run]).join("\n");
    expect(summary).toContain("[fixture] Bun crashed on the lane's first run");
    expect(summary).toContain("[fixture] its last lines:");
    expect(summary).toContain("last words");
  });
});
