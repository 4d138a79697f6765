// First start and every start: the data directory, the master key, the database, and the first
// admin's API token (written to <data>/initial-admin-token, mode 0600, like Jenkins'
// initialAdminPassword).
import { existsSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { count } from "drizzle-orm";
import { HEARTBEAT_INTERVAL_MS, LEASE_TTL_MS } from "../protocol/index.ts";
import { type S3Options, s3OptionsFromEnv } from "./blobs/s3-options.ts";
import { withConfigFile } from "./config-file.ts";
import { type Db, openDb } from "./db/client.ts";
import { apiTokens, users } from "./db/schema.ts";
import { type GithubOAuthConfig, githubOAuthFromEnv } from "./forge/github/oauth-config.ts";
import { hashToken, type Keyring, loadOrCreateMasterKey, newToken } from "./secrets/index.ts";
import { audit } from "./services/audit.ts";
import { newId } from "./services/ids.ts";
import { type TemplateTable, templateTableFromEnv } from "./services/templates.ts";

/** The server's configuration, read once from the environment and its file; nothing else reads them. */
export interface ServerConfig {
  dataDir: string;
  dbUrl: string;
  dbAuthToken?: string;
  host: string;
  port: number;
  /** Where users reach the server (CAIRN_PUBLIC_URL): links, OIDC issuer, commit statuses. */
  publicUrl?: string;
  /** CAIRN_TRUST_PROXY=1: the server sits behind a reverse proxy that appends to X-Forwarded-For. */
  trustProxy: boolean;
  /** How long a lease lives after the last heartbeat (CAIRN_LEASE_TTL_MS). */
  leaseTtlMs: number;
  /** How long a "re-run with SSH" container stays up after its steps (CAIRN_SSH_WINDOW_S). */
  sshWindowSeconds: number;
  /** `aud` of job identity tokens (CAIRN_OIDC_AUDIENCE). */
  oidcAudience: string;
  /** Image → LXC template table (CAIRN_TEMPLATES, CAIRN_DEFAULT_TEMPLATE). */
  templates: TemplateTable;
  /** The S3 blob store (CAIRN_S3_*); null: the local folder `<data>/blobs`. */
  s3: S3Options | null;
  /** GitHub / GHE OAuth sign-in (CAIRN_GITHUB_*); unset: not offered. */
  githubOAuth?: GithubOAuthConfig;
}

/** CAIRN_* variables over the CAIRN_CONFIG file's settings (server/config-file.ts). */
export function configFromEnv(processEnv: Record<string, string | undefined> = process.env): ServerConfig {
  const env = withConfigFile(processEnv);
  const dataDir = resolve(env.CAIRN_DATA_DIR ?? "data");
  const port = Number(env.CAIRN_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`CAIRN_PORT must be a port number (0-65535), got ${JSON.stringify(env.CAIRN_PORT)}`);
  }
  const leaseTtlMs = Number(env.CAIRN_LEASE_TTL_MS ?? LEASE_TTL_MS);
  if (!Number.isInteger(leaseTtlMs) || leaseTtlMs < 2 * HEARTBEAT_INTERVAL_MS) {
    throw new Error(`CAIRN_LEASE_TTL_MS must be at least ${2 * HEARTBEAT_INTERVAL_MS} (two heartbeats)`);
  }
  const sshWindowSeconds = Number(env.CAIRN_SSH_WINDOW_S ?? 600);
  if (!Number.isInteger(sshWindowSeconds) || sshWindowSeconds < 1)
    throw new Error("CAIRN_SSH_WINDOW_S must be a whole number of seconds");
  return {
    dataDir,
    dbUrl: env.CAIRN_DB_URL ?? `file:${join(dataDir, "cairn.db")}`,
    dbAuthToken: env.CAIRN_DB_AUTH_TOKEN,
    host: env.CAIRN_HOST ?? "127.0.0.1",
    port,
    publicUrl: env.CAIRN_PUBLIC_URL || undefined,
    trustProxy: env.CAIRN_TRUST_PROXY === "1",
    leaseTtlMs,
    sshWindowSeconds,
    oidcAudience: env.CAIRN_OIDC_AUDIENCE || "cairn",
    templates: templateTableFromEnv(env),
    s3: s3OptionsFromEnv(env),
    githubOAuth: githubOAuthFromEnv(env),
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
