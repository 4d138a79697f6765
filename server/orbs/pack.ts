// `cairn orb pack SRC_DIR`: one orb YAML from an orb source tree, as `circleci orb pack` makes it:
// `@orb.yml` at the top, then every `commands/x.yml`, `jobs/x.yml`, `executors/x.yml` and
// `examples/x.yml` under its kind by file name, and each value that is exactly
// `<<include(path)>>` replaced by that file's text (paths relative to SRC_DIR).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { isScalar, parseDocument, stringify, visit } from "yaml";

const KINDS = ["commands", "jobs", "executors", "examples"] as const;
const INCLUDE = /^<<\s*include\(([^)]+)\)\s*>>$/;

export class OrbPackError extends Error {}

export function packOrb(srcDir: string): string {
  const root = resolve(srcDir);
  const top = join(root, "@orb.yml");
  if (!existsSync(top)) throw new OrbPackError(`${srcDir}: no @orb.yml (is this an orb's src directory?)`);
  const orb: Record<string, unknown> = readYaml(top, root) ?? {};
  for (const kind of KINDS) {
    const dir = join(root, kind);
    if (!existsSync(dir)) continue;
    const files = readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort();
    if (files.length === 0) continue;
    const defs: Record<string, unknown> = { ...((orb[kind] as Record<string, unknown>) ?? {}) };
    for (const f of files) defs[f.replace(/\.ya?ml$/, "")] = readYaml(join(dir, f), root);
    orb[kind] = defs;
  }
  return stringify(orb, { lineWidth: 0, blockQuote: "literal" });
}

function readYaml(path: string, root: string): Record<string, unknown> | undefined {
  const doc = parseDocument(readFileSync(path, "utf8"));
  if (doc.errors.length > 0)
    throw new OrbPackError(`${relative(root, path)}: ${doc.errors[0].message.split("\n")[0]}`);
  visit(doc, {
    Scalar(_key, node) {
      if (!isScalar(node) || typeof node.value !== "string") return;
      const m = INCLUDE.exec(node.value.trim());
      if (!m) return;
      const file = resolve(root, m[1].trim());
      if (file !== root && !file.startsWith(root + sep))
        throw new OrbPackError(`${relative(root, path)}: <<include(${m[1]})>> is outside the orb`);
      if (!existsSync(file))
        throw new OrbPackError(`${relative(root, path)}: <<include(${m[1]})>>: no such file`);
      node.value = readFileSync(file, "utf8");
    },
  });
  return doc.toJS() as Record<string, unknown> | undefined;
}
