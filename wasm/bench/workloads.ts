// Synthetic but realistic inputs for the log benchmark, generated deterministically.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { corpusPath } from "../../tests/support/corpus.ts";

const enc = new TextEncoder();
const CORPUS = `${corpusPath("ansi")}/`;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function fill(target: number, next: () => string): Uint8Array {
  const parts: string[] = [];
  let size = 0;
  while (size < target) {
    const s = next();
    parts.push(s);
    size += s.length;
  }
  return enc.encode(parts.join(""));
}

const WORDS =
  "the build cache layer module request handler returns expected value when config is missing".split(" ");

/** Jest/pytest-like output: coloured PASS/FAIL lines, timings, a stack trace now and then. */
export function typicalLog(bytes: number): Uint8Array {
  const r = rng(1);
  let n = 0;
  return fill(bytes, () => {
    n++;
    const words = Array.from(
      { length: 4 + Math.floor(r() * 8) },
      () => WORDS[Math.floor(r() * WORDS.length)],
    ).join(" ");
    const ms = Math.floor(r() * 900);
    if (n % 50 === 0)
      return `\x1b[1m\x1b[31m  ● ${words}\x1b[39m\x1b[22m\n\n    at Object.<anonymous> (src/${WORDS[n % 14]}.test.ts:${n % 300}:17)\n`;
    if (n % 7 === 0)
      return `\x1b[0m\x1b[7m\x1b[1m\x1b[32m PASS \x1b[39m\x1b[22m\x1b[27m\x1b[0m \x1b[2msrc/\x1b[22m\x1b[1m${WORDS[n % 14]}.test.ts\x1b[22m (${ms} ms)\n`;
    if (n % 11 === 0) return `test_${words.replace(/ /g, "_")} \x1b[32mPASSED\x1b[0m [ ${n % 100}%]\n`;
    return `    \x1b[32m✓\x1b[39m \x1b[90m${words} (${ms} ms)\x1b[39m\n`;
  });
}

/** npm/pip-like install log: progress bars redrawn with \r and ESC[K, a few lines in between. */
export function progressLog(bytes: number): Uint8Array {
  const r = rng(2);
  let pct = 0;
  return fill(bytes, () => {
    pct = (pct + 1 + Math.floor(r() * 3)) % 101;
    const bar = "#".repeat(Math.floor(pct / 4)).padEnd(25, ".");
    if (pct > 97)
      return `\r\x1b[K\x1b[32m✔\x1b[0m added package-${Math.floor(r() * 1000)} in ${Math.floor(r() * 9)}s\n`;
    return `\r\x1b[K\x1b[36m⸩\x1b[0m ${bar} ${String(pct).padStart(3)}% \x1b[2mreify:fetch ${Math.floor(r() * 1e6)} bytes\x1b[0m`;
  });
}

/** One line of minified-JS-like text with no newline at all. */
export function singleLine(bytes: number): Uint8Array {
  const r = rng(3);
  return fill(
    bytes,
    () => `var ${WORDS[Math.floor(r() * WORDS.length)]}_${Math.floor(r() * 1e4)}=function(a,b){return a+b};`,
  ).subarray(0, bytes);
}

/** n secrets that look like real tokens; a few occur in the log. */
export function secrets(n: number): string[] {
  const r = rng(4);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from({ length: n }, () =>
    Array.from({ length: 32 }, () => alphabet[Math.floor(r() * 62)]).join(""),
  );
}

/** The typical log with the first secret printed every ~200 lines. */
export function logWithSecret(bytes: number, secret: string): Uint8Array {
  const base = new TextDecoder().decode(typicalLog(bytes));
  const lines = base.split("\n");
  for (let i = 100; i < lines.length; i += 200) lines[i] += ` token=${secret}`;
  return enc.encode(lines.join("\n"));
}

/** The real logs of the shared corpus (gitlab-runner jobs, Buildkite samples), looped to `bytes`; null if absent. */
export function corpusLogs(bytes: number): Uint8Array | null {
  if (!existsSync(CORPUS)) return null;
  const files = readdirSync(CORPUS)
    .filter((f) => !f.endsWith(".rendered"))
    .sort()
    .map((f) => readFileSync(CORPUS + f));
  const out = new Uint8Array(bytes);
  for (let at = 0, i = 0; at < bytes; i++) {
    const f = files[i % files.length].subarray(0, bytes - at);
    out.set(f, at);
    at += f.length;
  }
  return out;
}
