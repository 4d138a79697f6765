// The logs CLI as a user runs it: a real process, stdin in, stdout out, exit codes.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";

const cli = join(import.meta.dir, "logs.ts");
const raw = "\x1b[32mok\x1b[0m token=hunter22\r\n10%\r100%\nend";

async function logs(args: string[], input = raw): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn([process.execPath, cli, ...args], {
    stdin: new TextEncoder().encode(input),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, out, err };
}

describe("bun run logs", () => {
  test("renders text with secrets masked", async () => {
    const { code, out } = await logs(["--secret", "hunter22"]);
    expect(code).toBe(0);
    expect(out).toBe("ok token=********\n100%\nend\n");
  });

  test("--chunk-size never changes the result, in any format", async () => {
    for (const format of ["text", "html", "json"]) {
      const whole = await logs(["--format", format, "--secret=hunter22"]);
      for (const size of ["1", "3", "4096"]) {
        expect((await logs(["--format", format, "--secret=hunter22", "--chunk-size", size])).out).toBe(
          whole.out,
        );
      }
    }
  });

  test("html and json formats", async () => {
    expect((await logs(["--format", "html"])).out).toContain('<span class="term-fg32">ok</span>');
    const lines = (await logs(["--format", "json"])).out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.n)).toEqual([1, 2, 3]);
  });

  test("bad flags exit 2 with a clear message", async () => {
    for (const [args, message] of [
      [["--format", "xml"], '--format must be text, html or json, got "xml"'],
      [["--chunk-size", "0"], "--chunk-size must be a positive integer"],
      [["--chunk-size"], "--chunk-size needs a value"],
      [["--secret"], "--secret needs a value"],
      [["--nope"], 'unknown flag "--nope"'],
    ] as const) {
      const { code, err, out } = await logs([...args]);
      expect(code).toBe(2);
      expect(err).toContain(message);
      expect(err).toContain("usage: bun run logs");
      expect(out).toBe("");
    }
  });
});
