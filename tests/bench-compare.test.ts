// `bench:compare` runs as documented: without Buildbot it says how to install it and exits non-zero
// (the path CI takes, checked here on every machine by hiding Buildbot from PATH); with Debian's
// packages installed it runs one tiny round of every job on both systems and leaves no process or
// temp dir behind. No timing is asserted: the figures are the benchmark's business.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const script = join(import.meta.dir, "..", "scripts", "bench", "compare.ts");
const installed = Boolean(Bun.which("buildbot") && Bun.which("buildbot-worker"));

function compare(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [script, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 240_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("bench:compare", () => {
  const scratch = mkdtempSync(join(tmpdir(), "cairn-compare-test-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test("without Buildbot on PATH it says how to install it and exits non-zero", () => {
    const r = compare(["--rounds", "1"], { PATH: join(scratch, "empty-path") });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("buildbot and buildbot-worker are not on PATH");
    expect(r.stderr).toContain("apt-get install -y buildbot buildbot-worker");
    expect(r.stdout).toBe("");
  });

  test("a bad argument is refused with the usage", () => {
    const r = compare(["--rounds", "zero"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("usage: bun run bench:compare");
  });

  test.skipIf(!installed)(
    "with Buildbot installed, one tiny round of each job on both systems, then nothing left behind",
    () => {
      const tmp = mkdtempSync(join(scratch, "tmp-"));
      const r = compare(["--rounds", "1", "--seq", "2000", "--hold", "1", "--settle", "1", "--json"], {
        TMPDIR: tmp,
      });
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as {
        failed_runs: number;
        table: { measure: string; cairn: number[]; buildbot: number[] }[];
        systems: Record<
          string,
          {
            pids: { server: number; agent: number };
            runs: Record<string, { status: string; first_line_ms?: number }[]>;
          }
        >;
      };
      expect(out.failed_runs).toBe(0);
      expect(Object.keys(out.systems).sort()).toEqual(["buildbot", "cairn"]);
      for (const row of out.table) {
        expect(row.cairn.length, row.measure).toBe(1);
        expect(row.buildbot.length, row.measure).toBe(1);
      }
      for (const system of Object.values(out.systems)) {
        for (const job of ["big", "trivial", "running"])
          expect(system.runs[job].map((x) => x.status)).toEqual(["success"]);
        // Both jobs that print the marker had it seen by a viewer.
        expect(system.runs.trivial[0].first_line_ms).toBeNumber();
        expect(system.runs.running[0].first_line_ms).toBeNumber();
        expect(existsSync(`/proc/${system.pids.server}`)).toBe(false);
        expect(existsSync(`/proc/${system.pids.agent}`)).toBe(false);
      }
      expect(readdirSync(tmp)).toEqual([]);
    },
    300_000,
  );
});
