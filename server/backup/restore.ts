// `cairn-server restore FILE|s3://bucket/key --data-dir DIR`: unpacks a backup into a new (or empty)
// data dir, then proves it usable: the database opens, the migrations apply, and every sealed value
// opens with the restored master key (the same dry run as rotate-key's verification).
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { count } from "drizzle-orm";
import { openDb } from "../db/client.ts";
import { jobs, projects, users } from "../db/schema.ts";
import { sealedRows } from "../db/sealed-columns.ts";
import { loadOrCreateMasterKey, resealAll } from "../secrets/index.ts";
import { downloadArchive, parseS3Url } from "./archive.ts";
import { BACKUP_FORMAT, type BackupManifest, MANIFEST } from "./backup.ts";
import { extractTarGz } from "./tar.ts";

export interface RestoreReport {
  dataDir: string;
  manifest: BackupManifest;
  counts: { users: number; projects: number; jobs: number; sealedValues: number; blobFiles: number };
  keyId: string;
}

export class RestoreError extends Error {}

export async function restoreBackup(
  source: string,
  dataDirArg: string,
  env: Record<string, string | undefined>,
): Promise<RestoreReport> {
  const dataDir = resolve(dataDirArg);
  if (existsSync(dataDir) && (await readdir(dataDir)).length > 0) {
    throw new RestoreError(`${dataDir} is not empty; restore only into a new or empty data directory`);
  }
  const s3 = parseS3Url(source);
  if (!s3 && !existsSync(source)) throw new RestoreError(`${source} does not exist`);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
  const work = s3 ? await mkdtemp(join(tmpdir(), "cairn-restore-")) : null;
  try {
    let archive = source;
    if (s3 && work) {
      archive = join(work, "backup.tar.gz");
      await downloadArchive(s3, archive, env);
    }
    const names = await extractTarGz(archive, dataDir);
    if (!names.includes(MANIFEST) || !names.includes("cairn.db")) {
      throw new RestoreError(`${source} is not a cairn-server backup (no ${MANIFEST} or cairn.db in it)`);
    }
    const manifest = JSON.parse(await readFile(join(dataDir, MANIFEST), "utf8")) as BackupManifest;
    if (manifest.format !== BACKUP_FORMAT) throw new RestoreError(`unknown backup format ${manifest.format}`);
    await rm(join(dataDir, MANIFEST));
    return { dataDir, manifest, ...(await verify(dataDir, names)) };
  } finally {
    if (work) await rm(work, { recursive: true, force: true });
  }
}

/** Opens what was restored with the restored key only (never CAIRN_MASTER_KEY from the environment). */
async function verify(
  dataDir: string,
  names: string[],
): Promise<Omit<RestoreReport, "dataDir" | "manifest">> {
  const keyring = await loadOrCreateMasterKey({ dataDir, env: {} });
  if (keyring.source !== "file") throw new RestoreError("the backup holds no master key");
  const { db, close } = await openDb(`file:${join(dataDir, "cairn.db")}`);
  try {
    const n = async (table: typeof users | typeof projects | typeof jobs) =>
      (await db.select({ n: count() }).from(table))[0]!.n;
    const { rows } = await sealedRows(db);
    // Throws a SecretRotationError naming every row that does not open.
    await resealAll(keyring, rows, () => {}, { dryRun: true });
    return {
      keyId: keyring.current.id,
      counts: {
        users: await n(users),
        projects: await n(projects),
        jobs: await n(jobs),
        sealedValues: rows.length,
        blobFiles: names.filter((f) => f.startsWith("blobs/")).length,
      },
    };
  } finally {
    close();
  }
}
