// The local transport: direct exec on this machine.

import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createLocalTransport } from "./local.ts";

describe("local transport", () => {
  const t = createLocalTransport();

  test("runs argv without a shell, with exit codes and both streams", async () => {
    expect(await t.exec(["printf", "%s|", "a b", "$HOME", "`x`"])).toEqual({
      code: 0,
      stdout: "a b|$HOME|`x`|",
      stderr: "",
    });
    expect(await t.exec(["sh", "-c", "echo e >&2; exit 4"])).toEqual({ code: 4, stdout: "", stderr: "e\n" });
  });

  test("a command that cannot start is exit 127 with the reason", async () => {
    const r = await t.exec(["cairn-no-such-command"]);
    expect(r.code).toBe(127);
    expect(r.stderr).toContain("cannot run cairn-no-such-command");
  });

  test("stdin, env outside argv, streaming callbacks", async () => {
    const chunks: string[] = [];
    const r = await t.exec(["sh", "-c", 'cat; printf "%s" "$SECRET"'], {
      stdin: "in\n",
      env: { SECRET: "s3" },
      onStdout: (b) => chunks.push(new TextDecoder().decode(b)),
    });
    expect(r.stdout).toBe("in\ns3");
    expect(chunks.join("")).toBe("in\ns3");
  });

  test("abort kills the process group", async () => {
    const marker = `41.${Date.now() % 100000}`;
    const ac = new AbortController();
    const running = t.exec(["sh", "-c", `sleep ${marker} & sleep ${marker}`], { signal: ac.signal });
    await Bun.sleep(200);
    ac.abort();
    expect((await running).code).toBe(137);
    await Bun.sleep(100);
    expect(spawnSync("pgrep", ["-f", `sleep ${marker}`]).stdout.toString()).toBe("");
  });
});
