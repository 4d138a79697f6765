// Users: org admins create them, set their org role, link a GitHub login and set a password. The
// last org admin stays one; an admin made a member signs in again (services/revocation.ts).
import { and, asc, eq, gt, inArray, isNotNull } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { projectMembers, users } from "../db/schema.ts";
import { Conflict, NotFound } from "../errors.ts";
import { audit, byUser, type Requester } from "./audit.ts";
import { newId } from "./ids.ts";
import { type PasswordHasher, requireHasher } from "./passwords.ts";
import { endUserSessions } from "./revocation.ts";

export type User = typeof users.$inferSelect;
export type OrgRole = User["role"];

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

/**
 * Users by login, after `after`. Org admins see everyone; others those who share a project with them
 * (and themselves), or the one user whose exact `login` they name.
 */
export async function listUsers(
  db: Db,
  viewer: { id: string; role: string },
  q: { after?: string; login?: string; limit: number },
): Promise<User[]> {
  const visible =
    viewer.role === "admin" || q.login !== undefined ? undefined : await usersSharingProjects(db, viewer.id);
  return db
    .select()
    .from(users)
    .where(
      and(
        q.after ? gt(users.login, q.after) : undefined,
        q.login !== undefined ? eq(users.login, q.login) : undefined,
        visible ? inArray(users.id, visible) : undefined,
      ),
    )
    .orderBy(asc(users.login))
    .limit(q.limit);
}

export async function findUser(db: Db, id: string): Promise<User | undefined> {
  return db.query.users.findFirst({ where: eq(users.id, id) });
}

/** The user a GitHub login is linked to (stored lowercased). */
export async function userByGithubLogin(db: Db, githubLogin: string): Promise<User | undefined> {
  return db.query.users.findFirst({ where: eq(users.githubLogin, githubLogin.toLowerCase()) });
}

export async function userByLogin(db: Db, login: string): Promise<User | undefined> {
  return db.query.users.findFirst({ where: eq(users.login, login) });
}

/** True once anyone has a password (until then the first admin's token is the way in). */
export async function anyoneHasPassword(db: Db): Promise<boolean> {
  const rows = await db.select({ id: users.id }).from(users).where(isNotNull(users.passwordHash)).limit(1);
  return rows.length > 0;
}

async function githubLoginFree(db: Db, githubLogin: string | null | undefined, self: string | null) {
  if (!githubLogin) return;
  const holder = await db.query.users.findFirst({ where: eq(users.githubLogin, githubLogin) });
  if (holder && holder.id !== self) {
    throw new Conflict(
      `GitHub login ${githubLogin} is linked to ${holder.login}`,
      { github_login: githubLogin },
      "github_login_taken",
    );
  }
}

/** `password`, when given, hashed with argon2id (501 where the runtime has no hasher). */
const hashPassword = async (hasher: PasswordHasher | null, pw: string | undefined) =>
  pw === undefined ? undefined : requireHasher(hasher).hash(pw);
/** GitHub logins are stored lowercased; null unlinks. */
const lower = (login: string | null | undefined) => (login ? login.toLowerCase() : login);

export interface NewUser {
  login: string;
  role?: OrgRole;
  password?: string;
  github_login?: string | null;
}

export async function createUser(
  db: Db,
  hasher: PasswordHasher | null,
  input: NewUser,
  by: Requester,
): Promise<User> {
  const { login } = input;
  const role = input.role ?? "member";
  const passwordHash = await hashPassword(hasher, input.password);
  const githubLogin = lower(input.github_login);
  await githubLoginFree(db, githubLogin, null);
  if (await userByLogin(db, login)) {
    throw new Conflict(`a user named ${login} already exists`, { login }, "user_exists");
  }
  const id = newId();
  return db.transaction(async (tx) => {
    const [row] = await tx.insert(users).values({ id, login, role, passwordHash, githubLogin }).returning();
    await audit(tx, {
      actor: byUser(by),
      action: "user.created",
      target: { type: "user", id },
      ip: by.ip,
      details: { login, role },
    });
    return row;
  });
}

export interface UserChange {
  role?: OrgRole;
  password?: string;
  github_login?: string | null;
}

/** Applies a change; `roleChanged` tells the caller to recheck open streams after the commit. */
export async function updateUser(
  db: Db,
  hasher: PasswordHasher | null,
  id: string,
  change: UserChange,
  by: Requester,
): Promise<{ user: User; roleChanged: boolean }> {
  const r = change.role;
  const passwordHash = await hashPassword(hasher, change.password);
  const githubLogin = lower(change.github_login);
  await githubLoginFree(db, githubLogin, id);
  const user = await findUser(db, id);
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
        actor: byUser(by),
        action: "user.role_changed",
        target: { type: "user", id },
        ip: by.ip,
        details: { login: user.login, from: user.role, to: r },
      });
    }
    if (githubLogin !== undefined && githubLogin !== user.githubLogin) {
      await audit(tx, {
        actor: byUser(by),
        action: "user.github_linked",
        target: { type: "user", id },
        ip: by.ip,
        details: { login: user.login, github_login: githubLogin },
      });
    }
    if (passwordHash) {
      await audit(tx, {
        actor: byUser(by),
        action: "user.password_set",
        target: { type: "user", id },
        ip: by.ip,
        details: { login: user.login },
      });
    }
    return row;
  });
  return { user: row, roleChanged: Boolean(r && r !== user.role) };
}
