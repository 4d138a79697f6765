// The secrets layer must run on Node 20 (and Deno) too: run a smoke script under Node, via tsx, when present.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");
const tsx = join(root, "node_modules/tsx/dist/loader.mjs");
const node = spawnSync("node", ["--version"], { encoding: "utf8" });

test.skipIf(!existsSync(tsx) || node.status !== 0)(
  "works on Node with only Web APIs, tweetnacl and node:fs",
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-secrets-node-"));
    try {
      const script = join(dir, "smoke.mts");
      await writeFile(
        script,
        `import * as s from ${JSON.stringify(join(import.meta.dir, "index.ts"))};
const ring = await s.loadOrCreateMasterKey({ dataDir: ${JSON.stringify(join(dir, "data"))}, env: {} });
const again = await s.loadOrCreateMasterKey({ dataDir: ${JSON.stringify(join(dir, "data"))}, env: {} });
const builder = s.generateBuilderKeyPair();
const sealed = JSON.parse(JSON.stringify(s.sealForBuilder(builder.publicKey, { A: "1" }, "job")));
console.log(JSON.stringify({
  same: ring.current.id === again.current.id,
  value: s.open(again, s.seal(ring, "v", "ctx"), "ctx"),
  box: s.openSealedSecrets(sealed, builder.secretKey, "job"),
  token: s.tokenPrefix(s.newToken("cairn_pat")),
  hash: s.hashToken("abc").slice(0, 8),
}));
`,
      );
      const run = spawnSync("node", ["--import", tsx, script], { encoding: "utf8", cwd: root });
      expect(run.stderr).toBe("");
      expect(JSON.parse(run.stdout)).toEqual({
        same: true,
        value: "v",
        box: { A: "1" },
        token: "cairn_pat",
        hash: "ddaf35a1",
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

test("the core files use no Bun-only API, and only key files touch node:", async () => {
  const { readdir, readFile } = await import("node:fs/promises");
  // The secrets layer and the sealed box with its encodings, which moved to protocol/ for the builder.
  const dirs = [import.meta.dir, join(root, "protocol")];
  const files = (await Promise.all(dirs.map(async (d) => (await readdir(d)).map((f) => join(d, f)))))
    .flat()
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
  expect(files.length).toBeGreaterThan(8);
  for (const file of files) {
    const source = await readFile(file, "utf8");
    expect(source).not.toMatch(/\bBun\.|from "bun/);
    if (!["key-file.ts", "master-key.ts"].some((name) => file.endsWith(`/${name}`)))
      expect(`${file}: ${source}`).not.toMatch(/from "node:/);
  }
});
