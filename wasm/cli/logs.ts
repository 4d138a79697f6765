// `bun run logs -- [--secret S]... [--chunk-size N] [--format text|html|json] < raw > out`
// Re-renders a raw log through the WASM pipeline. --chunk-size feeds the input in pieces of
// N bytes, to show that chunking never changes the result.
import { loadLogPipeline, renderHtml, renderText } from "../index.ts";
import type { LogChunk } from "../types.ts";

const USAGE = "usage: bun run logs -- [--secret S]... [--chunk-size N] [--format text|html|json] < raw > out";

interface Flags {
  secrets: string[];
  chunkSize: number;
  format: "text" | "html" | "json";
}

class UsageError extends Error {}

export function parseFlags(argv: string[]): Flags {
  const flags: Flags = { secrets: [], chunkSize: 0, format: "text" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] =
      arg.startsWith("--") && arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (name === "--secret") flags.secrets.push(value());
    else if (name === "--chunk-size") {
      const v = value();
      if (!/^[1-9][0-9]*$/.test(v))
        throw new UsageError(`--chunk-size must be a positive integer, got "${v}"`);
      flags.chunkSize = Number(v);
    } else if (name === "--format") {
      const v = value();
      if (v !== "text" && v !== "html" && v !== "json")
        throw new UsageError(`--format must be text, html or json, got "${v}"`);
      flags.format = v;
    } else if (name === "--help" || name === "-h") throw new UsageError("");
    else throw new UsageError(`unknown flag "${arg}"`);
  }
  return flags;
}

async function main(): Promise<number> {
  let flags: Flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (e.message) process.stderr.write(`logs: ${e.message}\n`);
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const raw = new Uint8Array(await new Response(Bun.stdin.stream()).arrayBuffer());
  const factory = await loadLogPipeline();
  const pipeline = factory.create({ secrets: flags.secrets });
  const chunks: LogChunk[] = [];
  const step = flags.chunkSize || raw.length || 1;
  for (let at = 0; at < raw.length; at += step) chunks.push(...pipeline.push(raw.subarray(at, at + step)));
  chunks.push(...pipeline.flush());
  pipeline.dispose();
  const lines = chunks.flatMap((c) => c.lines);
  let out: string;
  if (flags.format === "html") out = renderHtml(lines);
  else if (flags.format === "text") out = renderText(lines);
  // Whole-log JSON: one line per log line, so the output does not depend on the chunking.
  else out = lines.map((l) => JSON.stringify(l)).join("\n") + (lines.length ? "\n" : "");
  await Bun.write(Bun.stdout, out);
  return 0;
}

if (import.meta.main) process.exitCode = await main();
