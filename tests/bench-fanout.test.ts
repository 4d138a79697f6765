// Smoke test of `bun run bench:fanout` with small numbers: the benchmark runs end to end across
// its processes, prints one JSON object last, and every viewer got every line exactly once.
// No timing assertions: the figures belong in docs/perf.md, not in a pass/fail.
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { killTree } from "./harness/runs.ts";

let bench: { pid: number; exitCode: number | null } | undefined;
// A test that times out would leave the benchmark and the servers it started running.
afterEach(() => {
  if (bench && bench.exitCode === null) killTree(bench.pid);
});

test("bench:fanout --jobs 2 --viewers 2 --seconds 2 --json: nothing lost or duplicated", async () => {
  const proc = Bun.spawn(
    [
      process.execPath,
      join(import.meta.dir, "../scripts/bench/fanout.ts"),
      "--jobs",
      "2",
      "--viewers",
      "2",
      "--seconds",
      "2",
      "--rate",
      "1",
      "--idle",
      "20",
      "--json",
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  bench = proc;
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  expect(code, err).toBe(0);
  const last = out.trim().split("\n").at(-1)!;
  const r = JSON.parse(last) as Record<string, number>;
  expect(r.jobs).toBe(2);
  expect(r.viewers).toBe(2);
  expect(r.connections).toBe(4);
  expect(r.sent_lines).toBeGreaterThan(0);
  expect(r.delivered_lines).toBe(r.sent_lines * 2);
  expect(r.lost).toBe(0);
  expect(r.duplicated).toBe(0);
  expect(r.unfinished).toBe(0);
  expect(r.idle_connections).toBe(20);
  for (const key of ["ingest_mb_s", "p50_ms", "p99_ms", "rss_mb", "cpu_pct", "rss_per_idle_kb"])
    expect(typeof r[key]).toBe("number");
}, 120_000);
