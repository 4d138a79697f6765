// Accounts — users, SSH keys, API tokens, project members, sign-in — on a real libSQL file, without HTTP.
import { describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { sessions } from "../db/schema.ts";
import { createSession } from "../middleware/session/index.ts";
import { generateDeployKey } from "../source/deploy-keys.ts";
import { membersOf, removeMember, setMember } from "./members.ts";
import { type PasswordHasher, SignInLimiter } from "./passwords.ts";
import { createProject } from "./projects.ts";
import { passwordUser, signIn, TooManyAttempts, tokenUser } from "./sessions.ts";
import { addSshKey, removeSshKey, sshKeysOf } from "./ssh-keys.ts";
import { serviceFixture } from "./testing.ts";
import { createToken, readExpiry, revokeOwnToken, tokensOf } from "./tokens.ts";
import { createUser, listUsers, updateUser } from "./users.ts";

/** Not argon2: enough to prove which password a user holds. */
const plainHasher: PasswordHasher = {
  hash: async (pw) => `plain:${pw}`,
  verify: async (pw, hash) => hash === `plain:${pw}`,
};

describe("users", () => {
  test("create: GitHub logins lowercased and unique, logins unique, audited without the password", async () => {
    const { db, by, audited } = await serviceFixture();
    const ada = await createUser(
      db,
      plainHasher,
      { login: "ada", password: "correct horse battery", github_login: "Ada-L" },
      by,
    );
    expect(ada).toMatchObject({ login: "ada", role: "member", githubLogin: "ada-l" });
    await expect(createUser(db, plainHasher, { login: "ada" }, by)).rejects.toMatchObject({
      code: "user_exists",
    });
    await expect(
      createUser(db, plainHasher, { login: "bob", github_login: "ADA-L" }, by),
    ).rejects.toMatchObject({
      code: "github_login_taken",
    });
    const [event] = await audited("user.created");
    expect(event.details).toEqual({ login: "ada", role: "member" });
    expect(JSON.stringify(event)).not.toContain("correct horse");
  });

  test("the last admin cannot stop being one; an admin made a member loses their sessions", async () => {
    const { db, by, adminId, audited } = await serviceFixture();
    await expect(updateUser(db, plainHasher, adminId, { role: "member" }, by)).rejects.toMatchObject({
      code: "last_admin",
    });
    const second = await createUser(db, plainHasher, { login: "second", role: "admin" }, by);
    await createSession(db, second.id);
    const { user, roleChanged } = await updateUser(db, plainHasher, second.id, { role: "member" }, by);
    expect(user.role).toBe("member");
    expect(roleChanged).toBe(true);
    expect(await db.select().from(sessions).where(eq(sessions.userId, second.id))).toEqual([]);
    expect((await audited("user.role_changed")).map((e) => e.details)).toEqual([
      { login: "second", from: "admin", to: "member" },
    ]);
    expect(
      (await updateUser(db, plainHasher, second.id, { password: "a new long password" }, by)).roleChanged,
    ).toBe(false);
    expect(await audited("user.password_set")).toHaveLength(1);
  });

  test("a member sees only who shares a project with them, or the login they name", async () => {
    const { db, keyring, by } = await serviceFixture();
    const { project } = await createProject(db, keyring, {
      name: "p",
      repoUrl: "/srv/p.git",
      defaultBranch: "main",
    });
    // One after another: each is a write transaction on the one file.
    const ann = await createUser(db, null, { login: "ann" }, by);
    const ben = await createUser(db, null, { login: "ben" }, by);
    const cat = await createUser(db, null, { login: "cat" }, by);
    await setMember(db, project.id, ann.id, "read", by);
    await setMember(db, project.id, ben.id, "write", by);
    const seen = async (q: { login?: string } = {}) =>
      (await listUsers(db, ann, { ...q, limit: 10 })).map((u) => u.login);
    expect(await seen()).toEqual(["ann", "ben"]);
    expect(await seen({ login: "cat" })).toEqual(["cat"]);
    expect(
      (await listUsers(db, { id: by.userId, role: "admin" }, { limit: 10 })).map((u) => u.login),
    ).toEqual(["ann", "ben", "cat", "root"]);
    expect(cat.login).toBe("cat");
  });
});

describe("SSH keys", () => {
  test("one OpenSSH line, registered once; removed only by its owner", async () => {
    const { db, by, audited } = await serviceFixture();
    const { publicKey } = await generateDeployKey("ada@laptop");
    const key = await addSshKey(db, { publicKey }, by);
    expect(key.name).toBe("ada@laptop");
    await expect(addSshKey(db, { publicKey, name: "again" }, by)).rejects.toMatchObject({
      code: "ssh_key_exists",
    });
    await expect(addSshKey(db, { publicKey: "ssh-ed25519 AAAA" }, by)).rejects.toMatchObject({ status: 400 });
    await expect(removeSshKey(db, key.id, { userId: "someone-else", ip: null })).rejects.toMatchObject({
      status: 404,
    });
    await removeSshKey(db, key.id, by);
    expect(await sshKeysOf(db, by.userId)).toEqual([]);
    expect((await audited("ssh_key.added")).length + (await audited("ssh_key.removed")).length).toBe(2);
  });
});

describe("API tokens", () => {
  test("created with a hash only, revoked once (with the sessions made from it), audited", async () => {
    const { db, by, adminId, audited } = await serviceFixture();
    expect(() => readExpiry("yesterday", Date.now())).toThrow(/ISO 8601/);
    expect(() => readExpiry(new Date(Date.now() - 1000).toISOString(), Date.now())).toThrow(/future/);
    const { row, token } = await createToken(db, { name: "ci", scopes: ["read"], expiresAt: null }, by);
    expect(row.tokenHash).not.toContain(token);
    expect((await tokensOf(db, adminId, { limit: 10 })).map((t) => t.id)).toEqual([row.id]);

    const found = await tokenUser(db, ` ${token} `, by.ip);
    expect(found).toMatchObject({ scopes: ["read"], tokenId: row.id });
    await createSession(db, adminId, Date.now(), found.scopes, found.tokenId);
    await expect(revokeOwnToken(db, row.id, { userId: "someone-else", ip: null })).rejects.toMatchObject({
      status: 404,
    });
    await revokeOwnToken(db, row.id, by);
    await revokeOwnToken(db, row.id, by); // already revoked: nothing more happens
    expect(await db.select().from(sessions).where(eq(sessions.tokenId, row.id))).toEqual([]);
    await expect(tokenUser(db, token, by.ip)).rejects.toMatchObject({ status: 401 });
    expect(await audited("token.revoked")).toHaveLength(1);
    expect((await audited("token.created"))[0].details).toEqual({
      name: "ci",
      scopes: ["read"],
      expires_at: null,
      kind: "api",
    });
    expect((await audited("session.sign_in_failed")).map((e) => e.details)).toEqual([{ method: "token" }]);
  });
});

describe("members", () => {
  test("added, re-roled, removed; each audited with the role it had", async () => {
    const { db, keyring, by, audited } = await serviceFixture();
    const { project } = await createProject(db, keyring, {
      name: "p",
      repoUrl: "/srv/p.git",
      defaultBranch: "main",
    });
    const ann = await createUser(db, null, { login: "ann" }, by);
    expect(await setMember(db, project.id, ann.id, "read", by)).toEqual({ login: "ann", added: true });
    expect(await setMember(db, project.id, ann.id, "write", by)).toEqual({ login: "ann", added: false });
    expect((await membersOf(db, project.id)).map((m) => [m.login, m.role])).toEqual([["ann", "write"]]);
    await expect(setMember(db, project.id, "nobody", "read", by)).rejects.toMatchObject({ status: 404 });
    await removeMember(db, project.id, ann.id, by);
    await expect(removeMember(db, project.id, ann.id, by)).rejects.toMatchObject({ status: 404 });
    expect((await audited("member.added")).map((e) => e.details.previous_role)).toEqual([null, "read"]);
    expect((await audited("member.removed")).map((e) => e.details.role)).toEqual(["write"]);
  });
});

describe("sign-in", () => {
  test("a wrong password is 401 and audited; the limiter then answers 429 with when to retry", async () => {
    const { db, by, audited } = await serviceFixture();
    const ada = await createUser(db, plainHasher, { login: "ada", password: "correct horse battery" }, by);
    const limiter = new SignInLimiter(2);
    const attempt = (pw: string) => passwordUser(db, plainHasher, limiter, "ada", pw, "192.0.2.9");
    expect((await attempt("correct horse battery")).id).toBe(ada.id);
    await expect(attempt("wrong")).rejects.toMatchObject({ status: 401 });
    await expect(attempt("wrong")).rejects.toMatchObject({ status: 401 });
    const refused = await attempt("correct horse battery").catch((e) => e);
    expect(refused).toBeInstanceOf(TooManyAttempts);
    expect(refused.retryAfter).toBeGreaterThan(0);
    expect((await audited("session.sign_in_failed")).map((e) => e.details)).toEqual([
      { method: "password", login: "ada" },
      { method: "password", login: "ada" },
    ]);
    const session = await signIn(db, ada, { method: "password", ip: "192.0.2.9" });
    expect(session.id).toStartWith("cairn_ses_");
    expect((await audited("session.signed_in"))[0]).toMatchObject({
      actorId: ada.id,
      ip: "192.0.2.9",
      details: { method: "password", login: "ada" },
    });
  });

  test("a sign-in that cannot be audited opens no session", async () => {
    const { db, by } = await serviceFixture();
    const ada = await createUser(db, plainHasher, { login: "ada", password: "correct horse battery" }, by);
    await db.run(sql`DROP TABLE audit_events`);
    await expect(signIn(db, ada, { method: "password", ip: "192.0.2.9" })).rejects.toThrow();
    expect(await db.select().from(sessions).where(eq(sessions.userId, ada.id))).toEqual([]);
  });
});
