// Each user's own SSH public keys, which let them SSH into builds of projects they may write to
// (services/ssh-access.ts). A key is registered once, to one user.
import { and, asc, eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { userSshKeys } from "../db/schema.ts";
import { BadRequest, Conflict, NotFound } from "../errors.ts";
import { fingerprintOfLine } from "../source/deploy-keys.ts";
import { audit, byUser, type Requester } from "./audit.ts";
import { newId } from "./ids.ts";

export type SshKey = typeof userSshKeys.$inferSelect;

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

export function sshKeysOf(db: Db, userId: string): Promise<SshKey[]> {
  return db
    .select()
    .from(userSshKeys)
    .where(eq(userSshKeys.userId, userId))
    .orderBy(asc(userSshKeys.createdAt));
}

/** Adds a key for the requester; its name defaults to the line's comment, else its type. */
export async function addSshKey(
  db: Db,
  input: { publicKey: string; name?: string },
  by: Requester,
): Promise<SshKey> {
  const line = checkPublicKeyLine(input.publicKey);
  const name = input.name ?? line.split(/\s+/)[2] ?? line.split(/\s+/)[0];
  const fingerprint = await fingerprintOfLine(line);
  if (await db.query.userSshKeys.findFirst({ where: eq(userSshKeys.fingerprint, fingerprint) })) {
    throw new Conflict("this key is already registered", { fingerprint }, "ssh_key_exists");
  }
  const id = newId();
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(userSshKeys)
      .values({ id, userId: by.userId, name, publicKey: line, fingerprint })
      .returning();
    await audit(tx, {
      actor: byUser(by),
      action: "ssh_key.added",
      target: { type: "ssh_key", id },
      ip: by.ip,
      details: { name, fingerprint },
    });
    return row;
  });
}

/** Removes one of the requester's own keys (404 for anyone else's). */
export async function removeSshKey(db: Db, id: string, by: Requester): Promise<void> {
  const key = await db.query.userSshKeys.findFirst({
    where: and(eq(userSshKeys.id, id), eq(userSshKeys.userId, by.userId)),
  });
  if (!key) throw new NotFound("ssh_key", id);
  await db.transaction(async (tx) => {
    await tx.delete(userSshKeys).where(eq(userSshKeys.id, id));
    await audit(tx, {
      actor: byUser(by),
      action: "ssh_key.removed",
      target: { type: "ssh_key", id },
      ip: by.ip,
      details: { name: key.name, fingerprint: key.fingerprint },
    });
  });
}
