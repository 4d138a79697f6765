import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTarGz, extractTarGz } from "./tar.ts";

const dir = mkdtempSync(join(tmpdir(), "cairn-tar-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("backup archives (tar.ts)", () => {
  test("round trip: sizes around block edges, a long name, empty files; system tar reads it too", async () => {
    const sizes = [0, 1, 511, 512, 513, 100_000];
    const files: Record<string, Uint8Array<ArrayBuffer>> = {};
    for (const n of sizes) files[`blobs/f${n}`] = crypto.getRandomValues(new Uint8Array(n));
    files[`blobs/${"d".repeat(90)}/${"n".repeat(90)}.ndjson`] = new TextEncoder().encode("long\n");
    const src = join(dir, "src.bin");
    writeFileSync(src, files["blobs/f100000"]!);
    const archive = join(dir, "a.tar.gz");
    const tar = await createTarGz(archive);
    for (const [name, bytes] of Object.entries(files)) {
      if (name === "blobs/f100000") await tar.addFile(name, src);
      else await tar.addBytes(name, bytes);
    }
    await tar.close();
    expect(statSync(archive).mode & 0o777).toBe(0o600);

    const out = join(dir, "out");
    mkdirSync(out);
    expect((await extractTarGz(archive, out)).sort()).toEqual(Object.keys(files).sort());
    for (const [name, bytes] of Object.entries(files)) {
      expect(new Uint8Array(readFileSync(join(out, name)))).toEqual(bytes);
      expect(statSync(join(out, name)).mode & 0o777).toBe(0o600);
    }
    const listed = Bun.spawnSync(["tar", "-tzf", archive]).stdout.toString().trim().split("\n");
    expect(listed.sort()).toEqual(Object.keys(files).sort());
  });

  test("a name that climbs out of the target is refused", async () => {
    const evil = join(dir, "evil");
    mkdirSync(join(evil, "x"), { recursive: true });
    writeFileSync(join(evil, "x", "f"), "x");
    const archive = join(dir, "evil.tar.gz");
    // GNU tar keeps `../` when asked to (-P), as a hostile archive would.
    Bun.spawnSync(["tar", "-czPf", archive, "-C", join(evil, "x"), "../x/f"]);
    const out = join(dir, "evil-out");
    mkdirSync(out);
    await expect(extractTarGz(archive, out)).rejects.toThrow("unsafe name");
  });
});
