// The template script's setup of root's subordinate ids, on files of the test's own: a range is
// added after every range there only when root has none big enough, and a second run changes nothing.
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "cairn-subids-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const script = join(import.meta.dir, "lxc-base-template.sh");
const asRoot = process.getuid?.() === 0;

function subids(uidFile: string, gidFile: string) {
  const r = spawnSync("sh", [script, "--subids"], {
    env: { ...process.env, CAIRN_SUBUID_FILE: uidFile, CAIRN_SUBGID_FILE: gidFile },
  });
  return { code: r.status, out: r.stdout.toString(), err: r.stderr.toString() };
}

test.skipIf(!asRoot)("root gets a 65536-id range after every other one, once", () => {
  const uid = join(dir, "subuid");
  const gid = join(dir, "subgid");
  // root's own range is too small; the uid file's last line has no newline.
  writeFileSync(uid, "alice:100000:65536\nroot:165536:1000");
  writeFileSync(gid, "alice:100000:65536\n");
  const first = subids(uid, gid);
  expect(first).toMatchObject({ code: 0, out: "166536 165536\n" });
  expect(first.err).toContain(`added root:166536:65536 to ${uid}`);
  expect(readFileSync(uid, "utf8")).toBe("alice:100000:65536\nroot:165536:1000\nroot:166536:65536\n");
  expect(readFileSync(gid, "utf8")).toBe("alice:100000:65536\nroot:165536:65536\n");
  const second = subids(uid, gid);
  expect(second).toMatchObject({ code: 0, out: "166536 165536\n", err: "" });
  expect(readFileSync(uid, "utf8")).toBe("alice:100000:65536\nroot:165536:1000\nroot:166536:65536\n");
});

test.skipIf(!asRoot)("an existing range of root's is used as it is; missing files are made", () => {
  const uid = join(dir, "subuid-2");
  const gid = join(dir, "subgid-2");
  writeFileSync(uid, "root:1000000:65536\n");
  expect(subids(uid, gid)).toMatchObject({ code: 0, out: "1000000 100000\n" });
  expect(readFileSync(uid, "utf8")).toBe("root:1000000:65536\n");
  expect(readFileSync(gid, "utf8")).toBe("root:100000:65536\n");
});
