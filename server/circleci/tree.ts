// A YAML document as a tree of plain values that each remember their line:col, with aliases and
// merge keys (`<<:`) already resolved, so every later stage can point an error at the right node.
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from "yaml";
import type { Diagnostics } from "./diagnostics.ts";

export interface Pos {
  line: number;
  col: number;
}
export interface YScalar {
  kind: "scalar";
  pos: Pos;
  value: string | number | boolean | null;
  /** Stands in for a required parameter while a definition is checked on its own. */
  placeholder?: true;
  /** Where the `nth` occurrence of `needle` is in the source of this scalar, when it can be found there. */
  locate?: (needle: string, nth: number) => Pos | undefined;
}
export interface YEntry {
  key: string;
  keyPos: Pos;
  value: YNode;
}
export interface YMap {
  kind: "map";
  pos: Pos;
  entries: YEntry[];
}
export interface YSeq {
  kind: "seq";
  pos: Pos;
  items: YNode[];
}
export type YNode = YScalar | YMap | YSeq;

export const scalar = (value: YScalar["value"], pos: Pos): YScalar => ({ kind: "scalar", pos, value });

/** Parses `text`; syntax errors go to `diag`. Returns undefined when nothing usable was parsed. */
export function parseTree(text: string, diag: Diagnostics): YNode | undefined {
  const lc = new LineCounter();
  // Merge keys are resolved below (not by the library) so that two `<<:` keys in one mapping both
  // apply, as they do on CircleCI (yarn's config relies on it); every other duplicate key is an error,
  // found below too: the library compares each key with every earlier one, quadratic in a mapping's size.
  const doc = parseDocument(text, { lineCounter: lc, merge: false, prettyErrors: false, uniqueKeys: false });
  const at = (offset: number | undefined): Pos => {
    const p = lc.linePos(offset ?? 0);
    return { line: p.line, col: p.col };
  };
  for (const e of doc.errors) diag.error(at(e.pos[0]), `YAML syntax error: ${firstLine(e.message)}`);
  if (doc.errors.length > 0) return undefined;
  if (!doc.contents) {
    diag.error({ line: 1, col: 1 }, "config is empty");
    return undefined;
  }
  return new Converter(doc, text, at, diag).node(doc.contents as Node, { line: 1, col: 1 }, 0);
}

const firstLine = (message: string) => message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");

export const MAX_NODES = 200_000;

/**
 * Each alias's target, found in one pass over the document in order (the latest anchor of that name
 * before the alias). The library's own `Alias.resolve` walks the document from the start for every
 * alias, which made a 66 KB config with 200 aliases take seconds.
 */
function aliasTargets(doc: Document): Map<Node, Node | "recursive"> {
  const anchors = new Map<string, Node>();
  const targets = new Map<Node, Node | "recursive">();
  visit(doc, {
    Node(_key, node, path) {
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        if (target) targets.set(node, path.includes(target) ? "recursive" : target);
        return;
      }
      if (node.anchor) anchors.set(node.anchor, node);
    },
  });
  return targets;
}

class Converter {
  private budget = MAX_NODES;
  private readonly targets: Map<Node, Node | "recursive">;
  /** Anchored nodes already converted, and how many nodes each one counts for: converted once, shared by every alias. */
  private readonly converted = new Map<Node, { node: YNode; size: number }>();

  constructor(
    doc: Document,
    private readonly text: string,
    private readonly at: (offset: number | undefined) => Pos,
    private readonly diag: Diagnostics,
  ) {
    this.targets = aliasTargets(doc);
  }

  /** Counts `n` nodes against the budget; false (reported once) when the config is too big. */
  private spend(n: number, pos: Pos): boolean {
    this.budget -= n;
    if (this.budget >= 0) return true;
    if (this.budget + n >= 0)
      this.diag.error(
        pos,
        `config expands to more than ${MAX_NODES} YAML nodes through aliases; refusing it`,
      );
    return false;
  }

  node(n: Node | null | undefined, fallback: Pos, depth: number): YNode {
    if (depth > 200) {
      this.diag.error(fallback, "YAML nesting too deep");
      return scalar(null, fallback);
    }
    // Aliases share one converted tree but count for every copy, so a small file of nested aliases
    // that would expand into billions of nodes is refused; real configs stay far below this.
    if (!this.spend(1, fallback)) return scalar(null, fallback);
    if (n == null) return scalar(null, fallback);
    if (isAlias(n)) {
      const at = this.at(n.range?.[0]);
      this.budget++; // the alias itself is not a node; its target counts
      const target = this.targets.get(n);
      if (target === "recursive") {
        this.diag.error(at, `alias *${n.source} refers to a node that contains it`);
        return scalar(null, at);
      }
      if (!target) {
        this.diag.error(at, `unknown alias *${n.source}`);
        return scalar(null, at);
      }
      const done = this.converted.get(target);
      if (done) return this.spend(done.size, at) ? done.node : scalar(null, at);
      return this.node(target, at, depth + 1);
    }
    if (n.anchor && !this.converted.has(n)) {
      const before = this.budget;
      const node = this.convert(n, fallback, depth);
      this.converted.set(n, { node, size: before - this.budget + 1 });
      return node;
    }
    return this.convert(n, fallback, depth);
  }

  private convert(n: Node, fallback: Pos, depth: number): YNode {
    const pos = n.range ? this.at(n.range[0]) : fallback;
    if (isScalar(n)) {
      const v = n.value;
      if (typeof v === "string" && v.includes("<<") && n.range)
        return { ...scalar(v, pos), locate: this.locator(n.range) };
      if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean")
        return scalar(v, pos);
      return scalar(String(v), pos);
    }
    if (isSeq(n))
      return { kind: "seq", pos, items: n.items.map((i) => this.node(i as Node, pos, depth + 1)) };
    if (isMap(n)) return this.map(n.items, pos, depth);
    return scalar(null, pos);
  }

  private locator([start, end]: [number, number, number]): YScalar["locate"] {
    const raw = this.text.slice(start, end);
    return (needle, nth) => {
      let i = -1;
      for (let k = 0; k <= nth; k++) {
        i = raw.indexOf(needle, i + 1);
        if (i < 0) return undefined;
      }
      return this.at(start + i);
    };
  }

  private map(items: unknown[], pos: Pos, depth: number): YMap {
    const explicit = new Set<string>();
    for (const item of items) {
      if (!isPair(item) || !isScalar(item.key) || item.key.value === "<<") continue;
      const key = String(item.key.value);
      if (explicit.has(key) && item.key.range)
        this.diag.error(this.at(item.key.range[0]), "YAML syntax error: Map keys must be unique");
      explicit.add(key);
    }
    const entries: YEntry[] = [];
    const seen = new Set<string>();
    const add = (e: YEntry) => {
      seen.add(e.key);
      entries.push(e);
    };
    for (const item of items) {
      if (!isPair(item)) continue;
      const key = item.key as Node | null;
      const keyPos = key?.range ? this.at(key.range[0]) : pos;
      if (!isScalar(key)) {
        this.diag.error(keyPos, "mapping keys must be plain strings");
        continue;
      }
      const value = this.node(item.value as Node | null, keyPos, depth + 1);
      if (key.value === "<<") {
        // Explicit keys win over merged ones; among merges the earlier one wins, as in `<<: [*a, *b]`.
        const sources = value.kind === "seq" ? value.items : [value];
        for (const src of sources) {
          if (src.kind !== "map") {
            this.diag.error(src.pos, "a merge key `<<` must refer to a mapping (or a list of mappings)");
            continue;
          }
          for (const e of src.entries) if (!explicit.has(e.key) && !seen.has(e.key)) add(e);
        }
        continue;
      }
      add({ key: String(key.value), keyPos, value });
    }
    return { kind: "map", pos, entries };
  }
}

export function get(map: YMap, key: string): YNode | undefined {
  return map.entries.find((e) => e.key === key)?.value;
}

export function entry(map: YMap, key: string): YEntry | undefined {
  return map.entries.find((e) => e.key === key);
}

export function describe(n: YNode): string {
  if (n.kind === "map") return "a mapping";
  if (n.kind === "seq") return "a list";
  if (n.value === null) return "nothing";
  if (typeof n.value === "string") return `the string ${JSON.stringify(n.value)}`;
  return `${typeof n.value} ${n.value}`;
}

/** Deep copy to a plain JS value (for rendering and comparisons). */
export function toPlain(n: YNode): unknown {
  if (n.kind === "scalar") return n.value;
  if (n.kind === "seq") return n.items.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const e of n.entries) out[e.key] = toPlain(e.value);
  return out;
}
