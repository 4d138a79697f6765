// `cairn config validate FILE` and `cairn config process FILE`: the config engine from a shell,
// printing problems as file:line:col: message (errors exit 1, usage mistakes exit 2). Orbs come
// from `--orb-dir DIR` (packed orbs, DIR/<namespace>/<name>@<X.Y.Z>.yml) when given.
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { orbsFromDir } from "../orbs/orb-dir.ts";
import { declaredOrbRefs, formatError, type OrbTexts, parseConfig, renderProcessed } from "./index.ts";

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readFile?: (path: string) => Promise<string>;
  /** Published orbs for the refs a config declares (the CLI's server, when it has one). */
  orbs?: (refs: string[]) => Promise<OrbTexts>;
}

const USAGE =
  "usage: cairn config validate FILE [--orb-dir DIR] [--json]\n       cairn config process FILE [--orb-dir DIR] [--json]";

/** `argv` starts after `config`: e.g. ["validate", ".circleci/config.yml"]. */
export async function runConfigCli(args: string[], io: CliIo): Promise<number> {
  const json = args.includes("--json");
  const argv = args.filter((a) => a !== "--json");
  let parsed: ReturnType<
    typeof parseArgs<{ options: { "orb-dir": { type: "string" } }; allowPositionals: true }>
  >;
  try {
    parsed = parseArgs({ args: argv, options: { "orb-dir": { type: "string" } }, allowPositionals: true });
  } catch (e) {
    io.stderr(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const [command, file, ...extra] = parsed.positionals;
  if ((command !== "validate" && command !== "process") || !file || extra.length > 0) {
    io.stderr(
      `${command && command !== "validate" && command !== "process" ? `unknown config command: ${command}\n` : ""}${USAGE}\n`,
    );
    return 2;
  }
  let text: string;
  try {
    text = await (io.readFile ?? ((p) => readFile(p, "utf8")))(file);
  } catch (e) {
    io.stderr(`${file}: cannot read: ${(e as Error).message}\n`);
    return 2;
  }
  const refs = declaredOrbRefs(text);
  const orbDir = parsed.values["orb-dir"];
  let orbs: OrbTexts | undefined;
  if (refs.length > 0) orbs = orbDir ? orbsFromDir(orbDir, refs) : await io.orbs?.(refs);
  const { config, errors, warnings } = parseConfig(text, file, orbs ? { orbs } : {});
  if (json) {
    const where = (p: (typeof errors)[number]) => ({ line: p.line, col: p.col, message: p.message });
    io.stdout(
      `${JSON.stringify({
        file,
        valid: Boolean(config),
        errors: errors.map(where),
        warnings: warnings.map(where),
        ...(config && command === "process" ? { config: parseYaml(renderProcessed(config)) } : {}),
      })}\n`,
    );
    return config ? 0 : 1;
  }
  // Errors and warnings together in file order, warnings marked as such.
  const problems = [...errors, ...warnings.map((w) => ({ ...w, message: `warning: ${w.message}` }))];
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  for (const p of problems) io.stderr(`${formatError(p)}\n`);
  if (!config) return 1;
  io.stdout(command === "validate" ? `${file}: valid\n` : renderProcessed(config));
  return 0;
}
