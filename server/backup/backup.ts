// `cairn-server backup FILE|s3://bucket/key`: one .tar.gz holding a consistent snapshot of the libSQL
// database (`VACUUM INTO`, safe while servers run), the master key(s), `<data>/tls/` and, with the
// local blob store, its files (archived logs, caches, artifacts). As secret as the master key: 0600.
// Not in it: `repos/` (mirrors, fetched again on first use) and `initial-admin-token`.
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createClient } from "@libsql/client";
import { s3OptionsFromEnv } from "../blobs/s3-options.ts";
import type { ServerConfig } from "../bootstrap.ts";
import {
  loadOrCreateMasterKey,
  MASTER_KEY_ENV,
  MASTER_KEY_FILE,
  MASTER_KEY_PREVIOUS_FILE,
} from "../secrets/index.ts";
import { VERSION } from "../version.ts";
import { parseS3Url, uploadArchive } from "./archive.ts";
import { createTarGz } from "./tar.ts";

export const MANIFEST = "cairn-backup.json";
export const BACKUP_FORMAT = "cairn-backup/1";

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  server_version: string;
  created_at: string;
  /** Key ids (never the keys): the current one first. */
  key_ids: string[];
  /** "included" (the local blob store's files are in the archive) or where they stay. */
  blobs: string;
  files: number;
}

export interface BackupResult {
  target: string;
  bytes: number;
  manifest: BackupManifest;
}

/** The path of a `file:` URL, or an error naming why another database cannot be snapshotted here. */
export function databaseFile(dbUrl: string): string {
  if (!dbUrl.startsWith("file:")) {
    throw new Error(
      `${dbUrl.replace(/\/\/[^@/]*@/, "//…@")} is a remote libSQL database: back it up with sqld's or Turso's own ` +
        "snapshots; `cairn-server backup` snapshots a local file: database",
    );
  }
  return dbUrl.slice("file:".length).replace(/^\/\/(?=\/)/, "");
}

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile() && !e.name.includes(".tmp-")) yield p;
  }
}

export async function createBackup(
  config: ServerConfig,
  target: string,
  env: Record<string, string | undefined>,
): Promise<BackupResult> {
  const s3 = parseS3Url(target);
  if (!s3 && existsSync(target)) throw new Error(`${target} exists; a backup never overwrites a file`);
  const dbFile = databaseFile(config.dbUrl);
  if (!existsSync(dbFile)) throw new Error(`no database at ${dbFile}: run \`cairn-server init\` first`);
  if (!env[MASTER_KEY_ENV] && !existsSync(join(config.dataDir, MASTER_KEY_FILE))) {
    throw new Error(
      `no master key in ${config.dataDir} and no ${MASTER_KEY_ENV}: nothing could open the secrets`,
    );
  }
  const keyring = await loadOrCreateMasterKey({ dataDir: config.dataDir, env });
  const work = await mkdtemp(join(tmpdir(), "cairn-backup-"));
  try {
    // A consistent copy, taken inside one read transaction while other processes keep writing.
    const snapshot = join(work, "cairn.db");
    const client = createClient({ url: config.dbUrl, authToken: config.dbAuthToken, timeout: 10_000 });
    try {
      await client.execute({ sql: "VACUUM INTO ?", args: [snapshot] });
    } finally {
      client.close();
    }
    const archive = s3 ? join(work, "backup.tar.gz") : `${target}.tmp-${process.pid}`;
    const tar = await createTarGz(archive);
    let files = 0;
    const localBlobs = !s3OptionsFromEnv(env);
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      server_version: VERSION,
      created_at: new Date().toISOString(),
      key_ids: [keyring.current.id, ...keyring.previous.map((k) => k.id)],
      blobs: localBlobs
        ? "included"
        : `not included: they stay in s3://${env.CAIRN_S3_BUCKET}/${env.CAIRN_S3_PREFIX ?? ""}`,
      files: 0,
    };
    const keyText = (bytes: Uint8Array) =>
      new TextEncoder().encode(`${Buffer.from(bytes).toString("base64")}\n`);
    try {
      await tar.addFile("cairn.db", snapshot);
      await tar.addBytes(MASTER_KEY_FILE, keyText(keyring.current.bytes));
      // The data dir holds one previous key; a second one (from CAIRN_MASTER_KEY_PREVIOUS) is named in the manifest only.
      if (keyring.previous[0])
        await tar.addBytes(MASTER_KEY_PREVIOUS_FILE, keyText(keyring.previous[0].bytes));
      files = 2 + (keyring.previous[0] ? 1 : 0);
      // `init --self-signed`'s private CA and server certificate: builders pin that CA.
      const tlsDir = join(config.dataDir, "tls");
      for await (const file of walk(tlsDir)) {
        await tar.addFile(`tls/${relative(tlsDir, file)}`, file);
        files++;
      }
      if (localBlobs) {
        const root = join(config.dataDir, "blobs");
        for await (const file of walk(root)) {
          await tar.addFile(`blobs/${relative(root, file)}`, file);
          files++;
        }
      }
      manifest.files = files;
      await tar.addBytes(MANIFEST, new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
      await tar.close();
    } catch (err) {
      await rm(archive, { force: true });
      throw err;
    }
    const bytes = (await stat(archive)).size;
    if (s3) await uploadArchive(archive, s3, env);
    else await rename(archive, target);
    return { target, bytes, manifest };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
