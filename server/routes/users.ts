// Users (org admins create them and set their org role) and each user's own SSH public keys, which
// let them SSH into builds of projects they may write to (services/ssh-access.ts).
import { and, asc, eq, gt, inArray } from "drizzle-orm";
import { Hono } from "hono";
import type { Db } from "../db/client.ts";
import { projectMembers, userSshKeys, users } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { BadRequest, Conflict, NotFound } from "../errors.ts";
import { sourceIp } from "../http/request.ts";
import { type AuthEnv, requireAdmin } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { requireScope } from "../services/access.ts";
import { audit } from "../services/audit.ts";
import { iso, newId } from "../services/ids.ts";
import { requireHasher, runtimeHasher } from "../services/passwords.ts";
import { endUserSessions, removeUser } from "../services/revocation.ts";
import { fingerprintOfLine } from "../source/deploy-keys.ts";
import { page, pageParams } from "./page.ts";

/** The user and everyone who is a member of a project they are a member of. */
async function usersSharingProjects(db: Db, userId: string): Promise<string[]> {
  const mine = db
    .select({ p: projectMembers.projectId })
    .from(projectMembers)
    .where(eq(projectMembers.userId, userId));
  const rows = await db
    .selectDistinct({ id: projectMembers.userId })
    .from(projectMembers)
    .where(inArray(projectMembers.projectId, mine));
  return [userId, ...rows.map((r) => r.id)];
}

export const presentUser = (u: typeof users.$inferSelect) => ({
  id: u.id,
  login: u.login,
  role: u.role,
  github_login: u.githubLogin,
  has_password: u.passwordHash !== null,
  created_at: iso(u.createdAt),
});

const presentKey = (k: typeof userSshKeys.$inferSelect) => ({
  id: k.id,
  name: k.name,
  public_key: k.publicKey,
  fingerprint: k.fingerprint,
  created_at: iso(k.createdAt),
});

const KEY_TYPES = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
]);

/** An OpenSSH public key line whose blob names the same key type as the line (ed25519, RSA, ECDSA). */
export function checkPublicKeyLine(line: string): string {
  const bad = () =>
    new BadRequest(
      "`public_key` must be one OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa-sha2-*)",
      { field: "public_key" },
      "invalid_body",
    );
  const trimmed = line.trim();
  if (/[\r\n]/.test(trimmed)) throw bad();
  const [type, data] = trimmed.split(/\s+/);
  if (!type || !KEY_TYPES.has(type) || !data || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw bad();
  const blob = Buffer.from(data, "base64");
  if (blob.length < 4 + type.length + 4) throw bad();
  const n = blob.readUInt32BE(0);
  if (n !== type.length || blob.subarray(4, 4 + n).toString("latin1") !== type) throw bad();
  if (type === "ssh-ed25519" && blob.length !== 4 + n + 4 + 32) throw bad();
  return trimmed;
}

export const userRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;
  const hasher = runtimeHasher();

  const githubLoginFree = async (githubLogin: string | null | undefined, self: string | null) => {
    if (!githubLogin) return;
    const holder = await db.query.users.findFirst({ where: eq(users.githubLogin, githubLogin) });
    if (holder && holder.id !== self) {
      throw new Conflict(
        `GitHub login ${githubLogin} is linked to ${holder.login}`,
        { github_login: githubLogin },
        "github_login_taken",
      );
    }
  };

  /** `password`, when given, hashed with argon2id (501 where the runtime has no hasher). */
  const hashPassword = async (pw: string | undefined) =>
    pw === undefined ? undefined : requireHasher(hasher).hash(pw);
  /** GitHub logins are stored lowercased; null unlinks. */
  const lower = (login: string | null | undefined) => (login ? login.toLowerCase() : login);

  app.get("/users/me", (c) => c.json(presentUser(c.get("user"))));

  app.post("/users", validate(ops.createUser), async (c) => {
    const actor = c.get("user");
    requireAdmin(actor);
    const body = c.req.valid("json");
    const login = body.login;
    const r = body.role ?? "member";
    const passwordHash = await hashPassword(body.password);
    const githubLogin = lower(body.github_login);
    await githubLoginFree(githubLogin, null);
    if (await db.query.users.findFirst({ where: eq(users.login, login) })) {
      throw new Conflict(`a user named ${login} already exists`, { login }, "user_exists");
    }
    const id = newId();
    const row = await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(users)
        .values({ id, login, role: r, passwordHash, githubLogin })
        .returning();
      await audit(tx, {
        actor: { type: "user", id: actor.id },
        action: "user.created",
        target: { type: "user", id },
        ip: sourceIp(deps, c),
        details: { login, role: r },
      });
      return row;
    });
    return c.json(presentUser(row), 201);
  });

  app.get("/users", validate(ops.listUsers), async (c) => {
    // Org admins see everyone, in full. Others see what adding members needs: the logins of those
    // who share a project with them (and their own), or the one user whose exact login they name.
    const actor = c.get("user");
    const query = c.req.valid("query");
    const { after, limit } = pageParams(query);
    const admin = actor.role === "admin";
    const visible = admin || query.login !== undefined ? undefined : await usersSharingProjects(db, actor.id);
    const rows = await db
      .select()
      .from(users)
      .where(
        and(
          after ? gt(users.login, after) : undefined,
          query.login !== undefined ? eq(users.login, query.login) : undefined,
          visible ? inArray(users.id, visible) : undefined,
        ),
      )
      .orderBy(asc(users.login))
      .limit(limit + 1);
    return c.json(
      page(rows, limit, (u) => u.login, admin ? presentUser : (u) => ({ id: u.id, login: u.login })),
    );
  });

  app.patch("/users/:id", validate(ops.updateUser), async (c) => {
    const actor = c.get("user");
    requireAdmin(actor);
    const id = c.req.param("id");
    const body = c.req.valid("json");
    const r = body.role;
    const passwordHash = await hashPassword(body.password);
    const githubLogin = lower(body.github_login);
    await githubLoginFree(githubLogin, id);
    const user = await db.query.users.findFirst({ where: eq(users.id, id) });
    if (!user) throw new NotFound("user", id);
    if (user.role === "admin" && r && r !== "admin") {
      const admins = await db.select({ id: users.id }).from(users).where(eq(users.role, "admin"));
      if (admins.length <= 1)
        throw new Conflict("the last admin cannot stop being one", { user: id }, "last_admin");
    }
    const row = await db.transaction(async (tx) => {
      const [row] = await tx
        .update(users)
        .set({
          role: r ?? user.role,
          ...(passwordHash ? { passwordHash } : {}),
          ...(githubLogin !== undefined ? { githubLogin } : {}),
        })
        .where(eq(users.id, id))
        .returning();
      if (r && r !== user.role) {
        // An admin made a member signs in again: no session keeps the role it was made under.
        if (user.role === "admin") await endUserSessions(tx, id);
        await audit(tx, {
          actor: { type: "user", id: actor.id },
          action: "user.role_changed",
          target: { type: "user", id },
          ip: sourceIp(deps, c),
          details: { login: user.login, from: user.role, to: r },
        });
      }
      if (githubLogin !== undefined && githubLogin !== user.githubLogin) {
        await audit(tx, {
          actor: { type: "user", id: actor.id },
          action: "user.github_linked",
          target: { type: "user", id },
          ip: sourceIp(deps, c),
          details: { login: user.login, github_login: githubLogin },
        });
      }
      if (passwordHash) {
        await audit(tx, {
          actor: { type: "user", id: actor.id },
          action: "user.password_set",
          target: { type: "user", id },
          ip: sourceIp(deps, c),
          details: { login: user.login },
        });
      }
      return row;
    });
    if (r && r !== user.role) await deps.streams.recheck();
    return c.json(presentUser(row));
  });

  app.delete("/users/:id", validate(ops.removeUser), async (c) => {
    const actor = c.get("user");
    requireAdmin(actor);
    await removeUser(db, actor, c.req.param("id"), sourceIp(deps, c));
    // Their streams end before this answers; other servers' within a second (services/stream-guard.ts).
    await deps.streams.recheck();
    return c.body(null, 204);
  });

  app.get("/users/me/ssh-keys", async (c) => {
    const rows = await db
      .select()
      .from(userSshKeys)
      .where(eq(userSshKeys.userId, c.get("user").id))
      .orderBy(asc(userSshKeys.createdAt));
    return c.json({ items: rows.map(presentKey), next_cursor: null });
  });

  app.post("/users/me/ssh-keys", validate(ops.addSshKey), async (c) => {
    const user = c.get("user");
    requireScope(user, "write");
    const body = c.req.valid("json");
    const line = checkPublicKeyLine(body.public_key);
    const name = body.name ?? line.split(/\s+/)[2] ?? line.split(/\s+/)[0];
    const fingerprint = await fingerprintOfLine(line);
    if (await db.query.userSshKeys.findFirst({ where: eq(userSshKeys.fingerprint, fingerprint) })) {
      throw new Conflict("this key is already registered", { fingerprint }, "ssh_key_exists");
    }
    const id = newId();
    const row = await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(userSshKeys)
        .values({ id, userId: user.id, name, publicKey: line, fingerprint })
        .returning();
      await audit(tx, {
        actor: { type: "user", id: user.id },
        action: "ssh_key.added",
        target: { type: "ssh_key", id },
        ip: sourceIp(deps, c),
        details: { name, fingerprint },
      });
      return row;
    });
    return c.json(presentKey(row), 201);
  });

  app.delete("/users/me/ssh-keys/:id", async (c) => {
    const user = c.get("user");
    const id = c.req.param("id");
    const key = await db.query.userSshKeys.findFirst({
      where: and(eq(userSshKeys.id, id), eq(userSshKeys.userId, user.id)),
    });
    if (!key) throw new NotFound("ssh_key", id);
    await db.transaction(async (tx) => {
      await tx.delete(userSshKeys).where(eq(userSshKeys.id, id));
      await audit(tx, {
        actor: { type: "user", id: user.id },
        action: "ssh_key.removed",
        target: { type: "ssh_key", id },
        ip: sourceIp(deps, c),
        details: { name: key.name, fingerprint: key.fingerprint },
      });
    });
    return c.body(null, 204);
  });

  return app;
};
