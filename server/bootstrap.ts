// First start and every start: the data directory, the master key, the database, and the first
// admin's API token (written to <data>/initial-admin-token, mode 0600, like Jenkins'
// initialAdminPassword).
import { existsSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { count } from "drizzle-orm";
import { withConfigFile } from "./config-file.ts";
import { type Db, openDb } from "./db/client.ts";
import { apiTokens, users } from "./db/schema.ts";
import { hashToken, type Keyring, loadOrCreateMasterKey, newToken } from "./secrets/index.ts";
import { audit } from "./services/audit.ts";
import { newId } from "./services/ids.ts";

export interface ServerConfig {
  dataDir: string;
  dbUrl: string;
  dbAuthToken?: string;
  host: string;
  port: number;
}

/** CAIRN_* variables over the CAIRN_CONFIG file's settings (server/config-file.ts). */
export function configFromEnv(processEnv: Record<string, string | undefined> = process.env): ServerConfig {
  const env = withConfigFile(processEnv);
  const dataDir = resolve(env.CAIRN_DATA_DIR ?? "data");
  const port = Number(env.CAIRN_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`CAIRN_PORT must be a port number (0-65535), got ${JSON.stringify(env.CAIRN_PORT)}`);
  }
  return {
    dataDir,
    dbUrl: env.CAIRN_DB_URL ?? `file:${join(dataDir, "cairn.db")}`,
    dbAuthToken: env.CAIRN_DB_AUTH_TOKEN,
    host: env.CAIRN_HOST ?? "127.0.0.1",
    port,
  };
}

export interface Initialised {
  db: Db;
  closeDb(): void;
  keyring: Keyring;
  /** Path of the initial admin token file when this start created it. */
  createdAdminTokenFile?: string;
}

export async function initialise(config: ServerConfig): Promise<Initialised> {
  // Everything the server writes (database, keys, blobs) is for its own eyes only.
  process.umask(0o077);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const keyring = await loadOrCreateMasterKey({ dataDir: config.dataDir, env: process.env });
  const { db, close } = await openDb(config.dbUrl, config.dbAuthToken);
  const [{ n }] = await db.select({ n: count() }).from(users);
  let createdAdminTokenFile: string | undefined;
  if (n === 0) createdAdminTokenFile = await createFirstAdmin(db, config.dataDir);
  return { db, closeDb: close, keyring, createdAdminTokenFile };
}

async function createFirstAdmin(db: Db, dataDir: string): Promise<string> {
  const userId = newId();
  const tokenId = newId();
  const token = newToken("cairn_pat");
  await db.transaction(async (tx) => {
    await tx.insert(users).values({ id: userId, login: "admin", role: "admin" });
    await tx.insert(apiTokens).values({
      id: tokenId,
      userId,
      name: "initial admin token",
      tokenHash: hashToken(token),
      scopes: "admin",
    });
    await audit(tx, {
      actor: { type: "system" },
      action: "token.created",
      target: { type: "api_token", id: tokenId },
      details: { name: "initial admin token", user_id: userId, login: "admin", kind: "api" },
    });
  });
  const file = join(dataDir, "initial-admin-token");
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

export const adminTokenFile = (dataDir: string): string | undefined => {
  const f = join(dataDir, "initial-admin-token");
  return existsSync(f) ? f : undefined;
};
