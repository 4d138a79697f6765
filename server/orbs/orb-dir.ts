// `--orb-dir DIR`: packed orbs on disk, for `cairn config validate|process` offline. Layout:
// DIR/<namespace>/<name>@<X.Y.Z>.yml (what `cairn orb pack` printed). References resolve as the
// registry resolves them: `@X.Y` and `@X` to the newest matching version present.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type OrbTexts, parseOrbRef, pickVersion, type ResolvedOrb } from "../circleci/index.ts";

export function orbsFromDir(dir: string, refs: readonly string[]): OrbTexts {
  const out = new Map<string, ResolvedOrb>();
  for (const ref of refs) {
    const p = parseOrbRef(ref);
    if (!p) continue;
    const [ns, name] = p.name.split("/");
    const folder = join(dir, ns);
    if (!existsSync(folder)) continue;
    const versions = readdirSync(folder).flatMap((f) => {
      const m = new RegExp(`^${name.replace(/[-]/g, "\\-")}@(\\d+\\.\\d+\\.\\d+)\\.ya?ml$`).exec(f);
      return m ? [m[1]] : [];
    });
    const version = pickVersion(p.version, versions);
    if (!version) continue;
    const file = ["yml", "yaml"].map((x) => join(folder, `${name}@${version}.${x}`)).find(existsSync);
    if (file) out.set(ref, { resolved: `${p.name}@${version}`, text: readFileSync(file, "utf8") });
  }
  return out;
}
