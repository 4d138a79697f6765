// Orbs: inline ones (`orbs: {local: {commands: …}}`) and published ones (`node: circleci/node@5.0.0`),
// whose packed YAML the caller looked up beforehand (a registry is I/O; the engine is not). Every
// command, job and executor of an orb becomes a definition named `alias/name`; inside the orb its
// own bare names win (see `lookup`). `@X.Y` and `@X` pick the newest published match, as on CircleCI.
import { isMap, isScalar, parseDocument } from "yaml";
import { Diagnostics } from "./diagnostics.ts";
import type { Ctx, Definition } from "./model.ts";
import { parseParamSpecs } from "./params.ts";
import { describe, get, parseTree, type YEntry, type YMap } from "./tree.ts";

/** A published orb's YAML, as the registry (or `--orb-dir`) handed it over for one declared reference. */
export interface ResolvedOrb {
  /** `ns/name@X.Y.Z`: the exact version the reference resolved to (recorded on the pipeline). */
  resolved: string;
  text: string;
}
/** By the reference as declared (`circleci/node@5`). */
export type OrbTexts = ReadonlyMap<string, ResolvedOrb>;

const REF = /^([a-z0-9][a-z0-9_-]*)\/([a-z0-9][a-z0-9_-]*)@(volatile|\d+(?:\.\d+){0,2})$/;

/** `ns/name@1.2.3` → its parts, or undefined when it is not an orb reference. */
export function parseOrbRef(ref: string): { name: string; version: string } | undefined {
  const m = REF.exec(ref.trim());
  return m ? { name: `${m[1]}/${m[2]}`, version: m[3] } : undefined;
}

/** The references a config declares under `orbs:` (inline orbs excluded), read without checking anything else. */
export function declaredOrbRefs(text: string): string[] {
  try {
    const doc = parseDocument(text, { uniqueKeys: false });
    const orbs = isMap(doc.contents) ? doc.contents.get("orbs") : undefined;
    if (!isMap(orbs)) return [];
    return orbs.items.flatMap((p) =>
      isScalar(p.value) && typeof p.value.value === "string" ? [p.value.value] : [],
    );
  } catch {
    return [];
  }
}

/** The newest of `versions` (X.Y.Z) that `wanted` (X.Y.Z, X.Y, X or volatile) selects. */
export function pickVersion(wanted: string, versions: readonly string[]): string | undefined {
  const num = (v: string) => v.split(".").map(Number);
  const matching = versions.filter((v) => {
    if (!/^\d+\.\d+\.\d+$/.test(v)) return false;
    if (wanted === "volatile") return true;
    const w = num(wanted);
    return w.every((n, i) => num(v)[i] === n);
  });
  matching.sort((a, b) => {
    const [x, y] = [num(a), num(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
  return matching.at(-1);
}

/** What to say when an orb is not published: the orb, the version, and the command that publishes it. */
export function missingOrbMessage(alias: string, ref: string): string {
  const p = parseOrbRef(ref);
  const version = p && /^\d+\.\d+\.\d+$/.test(p.version) ? p.version : "X.Y.Z";
  return `orb \`${alias}\` (${ref}): ${p?.name ?? ref} has no published version matching ${p?.version ?? ref}; publish it with \`cairn orb pack SRC_DIR > orb.yml && cairn orb publish ${p?.name ?? ref}@${version} orb.yml\``;
}

/**
 * Registers the definitions of every orb `root` declares into `ctx`, and returns the resolved
 * version of each published one by alias. Errors in a published orb's own YAML are reported at
 * its declaration (its lines are not in this file).
 */
export function loadOrbs(root: YMap, ctx: Ctx, texts: OrbTexts | undefined): Record<string, string> {
  const { diag } = ctx;
  const resolved: Record<string, string> = {};
  const node = get(root, "orbs");
  if (!node || (node.kind === "scalar" && node.value === null)) return resolved;
  if (node.kind !== "map") {
    diag.error(node.pos, `\`orbs\` must be a mapping of names to orbs, not ${describe(node)}`);
    return resolved;
  }
  for (const e of node.entries) {
    if (e.value.kind === "map") {
      ctx.orbs.set(e.key, "an inline orb");
      ctx.loadedOrbs.add(e.key);
      register(e, e.value, ctx);
      continue;
    }
    const ref = e.value.kind === "scalar" ? String(e.value.value) : "";
    ctx.orbs.set(e.key, ref);
    if (!parseOrbRef(ref)) {
      diag.error(
        e.value.pos,
        `orb \`${e.key}\`: \`${ref}\` is not an orb reference (namespace/name@X.Y.Z, @X.Y or @X)`,
      );
      continue;
    }
    const found = texts?.get(ref);
    if (!found) {
      diag.error(e.keyPos, missingOrbMessage(e.key, ref));
      continue;
    }
    const own = new Diagnostics(found.resolved);
    const tree = parseTree(found.text, own);
    if (tree?.kind !== "map" || own.failed) {
      const first = own.errors[0];
      diag.error(
        e.keyPos,
        `orb \`${e.key}\` (${found.resolved}) is not a valid orb${first ? `: ${first.line}:${first.col}: ${first.message}` : ""}`,
      );
      continue;
    }
    resolved[e.key] = found.resolved;
    ctx.loadedOrbs.add(e.key);
    register(e, tree, ctx);
  }
  return resolved;
}

function register(decl: YEntry, orb: YMap, ctx: Ctx): void {
  const { diag } = ctx;
  const where = `orb \`${decl.key}\``;
  if (get(orb, "orbs"))
    diag.error(
      decl.keyPos,
      `${where} uses other orbs, which Cairn does not resolve yet; publish an orb without \`orbs:\``,
    );
  const kinds = [
    ["commands", "command", ctx.commands],
    ["jobs", "job", ctx.jobs],
    ["executors", "executor", ctx.executors],
  ] as const;
  for (const [key, kind, into] of kinds) {
    const defs = get(orb, key);
    if (!defs) continue;
    if (defs.kind !== "map") {
      diag.error(defs.pos, `${where}: \`${key}\` must be a mapping, not ${describe(defs)}`);
      continue;
    }
    for (const d of defs.entries) {
      if (d.value.kind !== "map") {
        diag.error(d.value.pos, `${where}: ${kind} \`${d.key}\` must be a mapping, not ${describe(d.value)}`);
        continue;
      }
      const name = `${decl.key}/${d.key}`;
      const specs = parseParamSpecs(get(d.value, "parameters"), `${kind} \`${name}\``, diag);
      const def: Definition = { name, node: d.value, specs, pos: decl.keyPos, orb: decl.key };
      into.set(name, def);
    }
  }
}

/** A command or executor by name: inside an orb, its own bare names first. */
export function lookup(defs: Map<string, Definition>, name: string, ctx: Ctx): Definition | undefined {
  const def = ctx.orbScope ? defs.get(`${ctx.orbScope}/${name}`) : undefined;
  const found = def ?? defs.get(name);
  if (found?.orb) ctx.usedOrbs.add(found.orb);
  return found;
}

/** Runs `f` with bare names resolved inside `orb` (or outside any orb). */
export function inOrb<T>(ctx: Ctx, orb: string | undefined, f: () => T): T {
  const outer = ctx.orbScope;
  ctx.orbScope = orb;
  try {
    return f();
  } finally {
    ctx.orbScope = outer;
  }
}
