// Cairn's in-container helpers: `cairn` (and `circleci`) in ~/.cairn/bin, which the step runner puts
// first on PATH, plus the project's earlier test timings for `cairn tests split --split-by=timings`.
import { readFileSync } from "node:fs";
import type { JobPayload, TestTimings } from "../../protocol/index.ts";
import type { Sandbox } from "../driver/types.ts";

let script: string | undefined;
/** builder/assets/cairn.sh: POSIX sh + awk (also run directly by its unit tests). */
export function cairnScript(): string {
  script ??= readFileSync(new URL("../assets/cairn.sh", import.meta.url), "utf8");
  return script;
}

/** `kind<TAB>name<TAB>seconds` lines; names with tabs or newlines are left out. */
export function timingsTsv(t: TestTimings): string {
  let out = "";
  for (const [kind, table] of [
    ["file", t.file],
    ["classname", t.classname],
    ["testname", t.testname],
  ] as const) {
    for (const [name, seconds] of Object.entries(table)) {
      if (!/[\t\n\r]/.test(name) && Number.isFinite(seconds)) out += `${kind}\t${name}\t${seconds}\n`;
    }
  }
  return out;
}

const INSTALL = [
  'mkdir -p "$HOME/.cairn/bin" || exit 1',
  // stdin: the script, then the timings; $1 is the script's byte count.
  'f=$HOME/.cairn/in; cat >"$f" || exit 1',
  'head -c "$1" "$f" >"$HOME/.cairn/bin/cairn" && tail -c "+$(($1 + 1))" "$f" >"$HOME/.cairn/timings.tsv" && rm -f "$f" || exit 1',
  'chmod 755 "$HOME/.cairn/bin/cairn" && ln -sf cairn "$HOME/.cairn/bin/circleci"',
].join("\n");

export async function installHelpers(sandbox: Sandbox, payload: JobPayload): Promise<void> {
  const enc = new TextEncoder();
  const body = enc.encode(cairnScript());
  const timings = enc.encode(payload.test_timings ? timingsTsv(payload.test_timings) : "");
  const input = new Uint8Array(body.length + timings.length);
  input.set(body);
  input.set(timings, body.length);
  await sandbox.feed(INSTALL, [String(body.length)], new Blob([input]).stream());
}
