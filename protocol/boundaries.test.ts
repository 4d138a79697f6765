// The arrows between the top-level modules: builder/ and ui/ reach the server only through protocol/,
// and protocol/ leans on nothing of theirs. Every import specifier of every source file is resolved
// against its file; one that lands in a folder it may not enter fails here, named with its line.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = join(import.meta.dir, "..");
const SKIP = new Set(["node_modules", "dist", "build", "assembly"]);
/** `from "x"`, `import "x"`, `import("x")`, `require("x")`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["']([^"']+)["']/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name) || e.name.startsWith(".")) return [];
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return /\.(?:ts|tsx|js|mjs)$/.test(e.name) ? [path] : [];
  });
}

/** `file:line → specifier` for each relative import of `folder`'s files that resolves into one of `banned`. */
function crossings(folder: string, banned: string[]): string[] {
  const found: string[] = [];
  for (const file of sources(join(ROOT, folder))) {
    const lines = readFileSync(file, "utf8").split("\n");
    lines.forEach((line, i) => {
      for (const [, spec] of line.matchAll(SPECIFIER)) {
        if (!spec.startsWith(".")) continue;
        const target = relative(ROOT, resolve(dirname(file), spec));
        if (banned.some((b) => target === b || target.startsWith(`${b}/`)))
          found.push(`${relative(ROOT, file)}:${i + 1} → ${spec}`);
      }
    });
  }
  return found;
}

describe("module boundaries", () => {
  test("builder/ imports nothing from server/ or ui/", () => {
    expect(crossings("builder", ["server", "ui"])).toEqual([]);
  });

  test("ui/ imports nothing from server/ or builder/", () => {
    expect(crossings("ui", ["server", "builder"])).toEqual([]);
  });

  test("protocol/ imports nothing from server/, builder/ or ui/", () => {
    expect(crossings("protocol", ["server", "builder", "ui"])).toEqual([]);
  });

  test("the scan sees a crossing when there is one", () => {
    // server/ does import protocol/: if the scan found nothing here, it would prove nothing above.
    expect(crossings("server", ["protocol"]).length).toBeGreaterThan(0);
  });
});
