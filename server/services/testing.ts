// For the services' unit tests: a fresh libSQL file with its migrations, a sealing keyring, an admin
// to act as, and the audit events a call wrote. No HTTP: the services are called as the CLI would.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asc, eq } from "drizzle-orm";
import { openDb } from "../db/client.ts";
import { auditEvents, users } from "../db/schema.ts";
import { createKeyring } from "../secrets/index.ts";
import type { Requester } from "./audit.ts";
import { newId } from "./ids.ts";

export async function serviceFixture() {
  const dir = mkdtempSync(join(tmpdir(), "cairn-services-"));
  const { db, close } = await openDb(`file:${join(dir, "cairn.db")}`);
  const keyring = await createKeyring(crypto.getRandomValues(new Uint8Array(32)));
  const adminId = newId();
  await db.insert(users).values({ id: adminId, login: "root", role: "admin" });
  const by: Requester = { userId: adminId, ip: "192.0.2.7" };
  /** The audit events of one action, oldest first, with their details parsed. */
  const audited = async (action: string) =>
    (
      await db.select().from(auditEvents).where(eq(auditEvents.action, action)).orderBy(asc(auditEvents.id))
    ).map((e) => ({ ...e, details: JSON.parse(e.details) as Record<string, unknown> }));
  return { db, close, keyring, by, adminId, audited };
}
