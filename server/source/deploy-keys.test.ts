// The deploy key's OpenSSH encodings, checked by OpenSSH itself: ssh-keygen derives the same public
// key and fingerprint from the private key Cairn wrote.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fingerprintOfLine, generateDeployKey, gitSshCommand, isSshUrl } from "./deploy-keys.ts";

const hasKeygen = !spawnSync("ssh-keygen", ["-?"]).error;

describe("deploy keys", () => {
  test.skipIf(!hasKeygen)(
    "ssh-keygen reads the private key and derives the same public key and fingerprint",
    async () => {
      const key = await generateDeployKey("cairn deploy key for demo");
      expect(key.publicKey).toMatch(
        /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[\w+/]+=* cairn deploy key for demo$/,
      );
      expect(key.fingerprint).toMatch(/^SHA256:[\w+/]{43}$/);
      const dir = mkdtempSync(join(tmpdir(), "cairn-deploykey-"));
      try {
        const file = join(dir, "id");
        writeFileSync(file, key.privateKey, { mode: 0o600 });
        const derived = spawnSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" });
        expect(derived.stderr).toBe("");
        expect(derived.stdout.trim().split(" ").slice(0, 2)).toEqual(key.publicKey.split(" ").slice(0, 2));
        const fp = spawnSync("ssh-keygen", ["-l", "-E", "sha256", "-f", file], { encoding: "utf8" });
        expect(fp.stdout.split(" ")[1]).toBe(key.fingerprint);
        expect(await fingerprintOfLine(key.publicKey)).toBe(key.fingerprint);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test("two keys differ", async () => {
    const [a, b] = await Promise.all([generateDeployKey("a"), generateDeployKey("a")]);
    expect(a.privateKey).not.toBe(b.privateKey);
    expect(a.fingerprint).not.toBe(b.fingerprint);
  });

  test("ssh URLs, and the ssh command never relaxes host key checking", () => {
    expect(isSshUrl("ssh://git@github.com/o/r.git")).toBe(true);
    expect(isSshUrl("git@github.com:o/r.git")).toBe(true);
    expect(isSshUrl("https://github.com/o/r.git")).toBe(false);
    expect(isSshUrl("/srv/git/r.git")).toBe(false);
    const cmd = gitSshCommand("/tmp/x y/key", "/tmp/x y/known_hosts");
    expect(cmd).toContain("-o StrictHostKeyChecking=yes");
    expect(cmd).toContain("-o IdentitiesOnly=yes");
    expect(cmd).toContain("-i '/tmp/x y/key'");
    expect(cmd).not.toContain("StrictHostKeyChecking=no");
  });
});
