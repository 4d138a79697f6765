import type { Db } from "../db/client.ts";
import { registrationTokens } from "../db/schema.ts";
import { hashToken, newToken } from "../secrets/index.ts";
import { newId } from "./ids.ts";

const REGISTRATION_TTL_MS = 24 * 60 * 60 * 1000;

/** A one-time token a builder presents to register; only its hash is kept. */
export async function createRegistrationToken(
  db: Db,
  createdBy: string,
): Promise<{ token: string; expiresAt: number }> {
  const token = newToken("cairn_reg");
  const expiresAt = Date.now() + REGISTRATION_TTL_MS;
  await db
    .insert(registrationTokens)
    .values({ id: newId(), tokenHash: hashToken(token), createdBy, expiresAt });
  return { token, expiresAt };
}
