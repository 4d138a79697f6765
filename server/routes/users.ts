// Users (org admins create them and set their org role) and each user's own SSH public keys, which
// let them SSH into builds of projects they may write to. The rules and writes are services/users.ts,
// services/ssh-keys.ts and services/revocation.ts.
import { type Context, Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { sourceIp } from "../http/request.ts";
import { type AuthEnv, requireAdmin } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { requireScope } from "../services/access.ts";
import type { Requester } from "../services/audit.ts";
import { iso } from "../services/ids.ts";
import { runtimeHasher } from "../services/passwords.ts";
import { removeUser } from "../services/revocation.ts";
import { addSshKey, removeSshKey, type SshKey, sshKeysOf } from "../services/ssh-keys.ts";
import { createUser, listUsers, type User, updateUser } from "../services/users.ts";
import { page, pageParams } from "./page.ts";

export const presentUser = (u: User) => ({
  id: u.id,
  login: u.login,
  role: u.role,
  github_login: u.githubLogin,
  has_password: u.passwordHash !== null,
  created_at: iso(u.createdAt),
});

const presentKey = (k: SshKey) => ({
  id: k.id,
  name: k.name,
  public_key: k.publicKey,
  fingerprint: k.fingerprint,
  created_at: iso(k.createdAt),
});

export const userRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;
  const hasher = runtimeHasher();
  const by = (c: Context<AuthEnv>): Requester => ({ userId: c.get("user").id, ip: sourceIp(deps, c) });

  app.get("/users/me", (c) => c.json(presentUser(c.get("user"))));

  app.post("/users", validate(ops.createUser), async (c) => {
    requireAdmin(c.get("user"));
    const row = await createUser(db, hasher, c.req.valid("json"), by(c));
    return c.json(presentUser(row), 201);
  });

  app.get("/users", validate(ops.listUsers), async (c) => {
    // Org admins see everyone, in full. Others see what adding members needs: the logins of those
    // who share a project with them (and their own), or the one user whose exact login they name.
    const actor = c.get("user");
    const query = c.req.valid("query");
    const { after, limit } = pageParams(query);
    const rows = await listUsers(db, actor, { after, login: query.login, limit: limit + 1 });
    return c.json(
      page(
        rows,
        limit,
        (u) => u.login,
        actor.role === "admin" ? presentUser : (u) => ({ id: u.id, login: u.login }),
      ),
    );
  });

  app.patch("/users/:id", validate(ops.updateUser), async (c) => {
    requireAdmin(c.get("user"));
    const { user, roleChanged } = await updateUser(db, hasher, c.req.param("id"), c.req.valid("json"), by(c));
    if (roleChanged) await deps.streams.recheck();
    return c.json(presentUser(user));
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
    const rows = await sshKeysOf(db, c.get("user").id);
    return c.json({ items: rows.map(presentKey), next_cursor: null });
  });

  app.post("/users/me/ssh-keys", validate(ops.addSshKey), async (c) => {
    requireScope(c.get("user"), "write");
    const body = c.req.valid("json");
    const row = await addSshKey(db, { publicKey: body.public_key, name: body.name }, by(c));
    return c.json(presentKey(row), 201);
  });

  app.delete("/users/me/ssh-keys/:id", async (c) => {
    await removeSshKey(db, c.req.param("id"), by(c));
    return c.body(null, 204);
  });

  return app;
};
