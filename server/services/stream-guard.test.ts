// The StreamGuard on a real libSQL file, with changes written straight to the database as another
// server process would: its own timer finds them and ends the streams they concern, and only those.
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { openDb } from "../db/client.ts";
import { apiTokens, projectMembers, projects, sessions, users } from "../db/schema.ts";
import type { User } from "../middleware/auth/index.ts";
import { StreamGuard } from "./stream-guard.ts";

const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));

test("changes made by another process end the matching streams at the next round", async () => {
  const { db, close } = await openDb(`file:${join(mkdtempSync(join(tmpdir(), "cairn-guard-")), "cairn.db")}`);
  await db.insert(users).values([
    { id: "u1", login: "one", role: "member" },
    { id: "u2", login: "two", role: "admin" },
  ]);
  await db.insert(projects).values([
    { id: "p1", name: "p1", repoUrl: "/dev/null" },
    { id: "p2", name: "p2", repoUrl: "/dev/null" },
  ]);
  await db.insert(projectMembers).values([
    { projectId: "p1", userId: "u1", role: "read" },
    { projectId: "p2", userId: "u1", role: "read" },
  ]);
  await db.insert(apiTokens).values({ id: "t1", userId: "u1", name: "t", tokenHash: "h1", scopes: "read" });
  await db.insert(sessions).values([
    { idHash: "s1", userId: "u1", expiresAt: Date.now() + 60_000, scopes: "read", tokenId: "t1" },
    { idHash: "s2", userId: "u2", expiresAt: Date.now() + 60_000 },
  ]);
  const row = async (id: string) => (await db.query.users.findFirst({ where: eq(users.id, id) }))!;
  const as = async (id: string, credential: User["credential"]): Promise<User> => ({
    ...(await row(id)),
    scopes: ["read"],
    credential,
  });

  const guard = new StreamGuard(db);
  const byToken = guard.open(await as("u1", { kind: "token", id: "t1" }), ["p1"]);
  const bySession = guard.open(await as("u1", { kind: "session", idHash: "s1" }), ["p2"]);
  const adminList = guard.open(await as("u2", { kind: "session", idHash: "s2" }), null);
  const p2Only = guard.open(await as("u1", { kind: "token", id: "t1" }), ["p2"]);
  await guard.recheck();
  expect(guard.size()).toBe(4);

  const stop = guard.start(50);
  try {
    // Revoking the token ends the streams opened with it and with the session made from it.
    await db.update(apiTokens).set({ revokedAt: Date.now() }).where(eq(apiTokens.id, "t1"));
    await Promise.all([aborted(byToken.signal), aborted(bySession.signal), aborted(p2Only.signal)]);
    expect(adminList.signal.aborted).toBe(false);
    // An admin made a member no longer reads every project.
    await db.update(users).set({ role: "member" }).where(eq(users.id, "u2"));
    await aborted(adminList.signal);
    expect(guard.size()).toBe(0);
  } finally {
    stop();
    close();
  }
});

test("a lost membership ends only the streams of that project", async () => {
  const { db, close } = await openDb(`file:${join(mkdtempSync(join(tmpdir(), "cairn-guard-")), "cairn.db")}`);
  await db.insert(users).values({ id: "u1", login: "one", role: "member" });
  await db.insert(projects).values([
    { id: "p1", name: "p1", repoUrl: "/dev/null" },
    { id: "p2", name: "p2", repoUrl: "/dev/null" },
  ]);
  await db.insert(projectMembers).values([
    { projectId: "p1", userId: "u1", role: "read" },
    { projectId: "p2", userId: "u1", role: "read" },
  ]);
  await db.insert(apiTokens).values({ id: "t1", userId: "u1", name: "t", tokenHash: "h1", scopes: "read" });
  const user: User = {
    ...(await db.query.users.findFirst({ where: eq(users.id, "u1") }))!,
    scopes: ["read"],
    credential: { kind: "token", id: "t1" },
  };
  const guard = new StreamGuard(db);
  const one = guard.open(user, ["p1"]);
  const two = guard.open(user, ["p2"]);
  const both = guard.open(user, ["p1", "p2"]);
  await db.delete(projectMembers).where(eq(projectMembers.projectId, "p1"));
  await guard.recheck();
  expect([one.signal.aborted, two.signal.aborted, both.signal.aborted]).toEqual([true, false, true]);
  two.close();
  expect(guard.size()).toBe(0);
  close();
});
