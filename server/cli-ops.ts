// The operator's commands of cairn-server beyond init/serve/rotate-key: migrate, backup, restore and
// config check. server/cli.ts parses the arguments and dispatches here.
import { mkdir } from "node:fs/promises";
import { createClient } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { createBackup } from "./backup/backup.ts";
import { restoreBackup } from "./backup/restore.ts";
import { configFromEnv } from "./bootstrap.ts";
import { checkConfig } from "./config-check.ts";
import { MIGRATIONS_DIR } from "./db/client.ts";
import { applyMigrations, currentMigrations } from "./db/migrate.ts";

const say = (msg: string) => console.log(`cairn-server: ${msg}`);

/** Applies pending migrations and exits (servers apply them at start too; this is for upgrades by hand). */
export async function migrateCommand(): Promise<number> {
  const config = configFromEnv();
  if (config.dbUrl.startsWith("file:")) {
    // As `init` would: the database is for the server's eyes only.
    process.umask(0o077);
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  }
  const client = createClient({ url: config.dbUrl, authToken: config.dbAuthToken, timeout: 10_000 });
  try {
    const all = currentMigrations(MIGRATIONS_DIR);
    const applied = await applyMigrations(drizzle(client), all);
    say(
      `${redact(config.dbUrl)}: ${applied} migration(s) applied; ${all.length} in all (latest ${all.at(-1)?.tag})`,
    );
    return 0;
  } finally {
    client.close();
  }
}

export async function backupCommand(target: string | undefined): Promise<number> {
  if (!target) {
    console.error("cairn-server: backup needs a target: FILE or s3://BUCKET/KEY");
    return 2;
  }
  const config = configFromEnv();
  console.error(
    "cairn-server: WARNING: the backup holds the MASTER KEY next to the database: whoever has the file can open every " +
      "secret. Keep it like the key itself (mode 0600, encrypted storage, restricted bucket).",
  );
  const r = await createBackup(config, target, process.env);
  say(
    `backup written to ${r.target} (${r.bytes} bytes, mode 0600): database snapshot, master key(s) ${r.manifest.key_ids.join(", ")}, ` +
      `${r.manifest.files} file(s); blobs ${r.manifest.blobs}`,
  );
  return 0;
}

export async function restoreCommand(
  source: string | undefined,
  dataDir: string | undefined,
): Promise<number> {
  if (!source || !dataDir) {
    console.error(
      "cairn-server: restore needs FILE|s3://BUCKET/KEY and --data-dir DIR (a new or empty directory)",
    );
    return 2;
  }
  const r = await restoreBackup(source, dataDir, process.env);
  const c = r.counts;
  say(`restored ${source} (made ${r.manifest.created_at} by ${r.manifest.server_version}) into ${r.dataDir}`);
  say(
    `verified: the database opens and is migrated; ${c.users} user(s), ${c.projects} project(s), ${c.jobs} job(s), ` +
      `${c.blobFiles} blob file(s); all ${c.sealedValues} sealed value(s) open with master key ${r.keyId}`,
  );
  say(
    `serve it with CAIRN_DATA_DIR=${r.dataDir} (and no CAIRN_DB_URL, or import ${r.dataDir}/cairn.db into your sqld)`,
  );
  return 0;
}

export function configCheckCommand(): number {
  const { errors, notes } = checkConfig(process.env);
  for (const n of notes) console.log(`note: ${n}`);
  for (const e of errors) console.log(`error: ${e}`);
  console.log(errors.length === 0 ? "config check: ok" : `config check: ${errors.length} problem(s)`);
  return errors.length === 0 ? 0 : 1;
}

const redact = (url: string) => url.replace(/\/\/[^@/]*@/, "//…@");
