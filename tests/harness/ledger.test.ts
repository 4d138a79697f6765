// The test-run ledger: what a killed run made on the host's network (here a namespace) is removed
// by the next run's sweep, and only names this project's tests make are ever touched.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeNetwork, sweepDeadRuns, TEST_LXC_ROOT } from "./lxc.ts";

const root = process.getuid?.() === 0 && spawnSync("ip", ["netns", "list"]).status === 0;

test.skipIf(!root)("a dead run's ledger is swept: its namespace goes, a foreign name stays", async () => {
  // A pid that existed and is gone: the "killed run".
  const dead = spawnSync("true").pid;
  const ns = `cairn-ledger-${process.pid}`;
  const dir = join(TEST_LXC_ROOT, String(dead));
  mkdirSync(dir, { recursive: true });
  spawnSync("ip", ["netns", "add", ns]);
  try {
    writeFileSync(
      join(dir, "network.ledger"),
      `${JSON.stringify({ kind: "netns", name: ns })}\n${JSON.stringify({ kind: "netns", name: "not-ours" })}\n`,
    );
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).toContain(ns);
    await sweepDeadRuns();
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toContain(ns);
    // Names that are not `cairn…` are never removed, whatever a ledger says.
    expect(await removeNetwork([{ kind: "link", name: "lo" }])).toEqual([]);
  } finally {
    spawnSync("ip", ["netns", "del", ns]);
  }
});
