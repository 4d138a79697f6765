// What the image-store suites share: whether they can run here (LXC, and the registry tools), and
// removing the image templates their stores made.
import { test } from "bun:test";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REQUIRE_LXC, requireLxc } from "../harness/lxc.ts";
import { registryMissingReason } from "./registry.ts";

/**
 * True when this file's image tests must skip: no LXC here, or no docker-registry, skopeo or umoci.
 * Under CAIRN_REQUIRE_LXC=1 a missing tool is a failing test of the calling file instead.
 */
export async function imageSuiteSkips(): Promise<boolean> {
  const missing = registryMissingReason();
  if (missing && REQUIRE_LXC)
    test(`image tools are required here (CAIRN_REQUIRE_LXC=1): ${missing}`, () => {
      throw new Error(missing);
    });
  return (await requireLxc()) || Boolean(missing);
}

/** Removes the `cairnimg-*` templates in `lxcPath` that a store in one of `dirs` made, then the dirs. */
export function removeStoreImages(lxcPath: string, dirs: string[]): void {
  if (lxcPath)
    for (const t of readdirSync(lxcPath))
      if (t.startsWith("cairnimg-") && dirs.some((d) => configOf(lxcPath, t).includes(d)))
        rmSync(join(lxcPath, t), { recursive: true, force: true });
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

const configOf = (lxcPath: string, template: string): string => {
  try {
    return readFileSync(join(lxcPath, template, "config"), "utf8");
  } catch {
    return ""; // half made, or removed meanwhile: not this suite's to judge
  }
};
