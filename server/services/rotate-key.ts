// `cairn-server rotate-key`: a new master key, every sealed row re-sealed under it with a conditional
// write, then verified. `--finish` (after restarting servers that still held the old key) re-seals
// whatever they sealed meanwhile and retires master.key.previous once nothing is left under it.
import { mkdir } from "node:fs/promises";
import type { ServerConfig } from "../bootstrap.ts";
import { openDb } from "../db/client.ts";
import { sealedRows } from "../db/sealed-columns.ts";
import {
  type Keyring,
  loadOrCreateMasterKey,
  type RotationReport,
  resealAll,
  retirePreviousKeyFile,
  rotateKeyFiles,
} from "../secrets/index.ts";

export interface RotateResult {
  /** The re-sealing pass. */
  report: RotationReport;
  /** Rows per key id after re-sealing (every one should be under `report.keyId`). */
  after: Record<string, number>;
  previousKeyRetired: boolean;
  previousKeyIds: string[];
}

async function resealEverything(
  config: ServerConfig,
  keyring: Keyring,
  retire: boolean,
): Promise<RotateResult> {
  const { db, close } = await openDb(config.dbUrl, config.dbAuthToken);
  try {
    // Every column db/sealed-columns.ts lists.
    const { rows, write } = await sealedRows(db);
    const report = await resealAll(keyring, rows, write);
    // Verify from the database, not from what we meant to write: every row opens and is under the new key.
    const check = await sealedRows(db);
    const verified = await resealAll(keyring, check.rows, check.write, { dryRun: true });
    const stale = Object.keys(verified.byKeyId).filter((id) => id !== keyring.current.id);
    let previousKeyRetired = false;
    if (retire && stale.length === 0) previousKeyRetired = await retirePreviousKeyFile(config.dataDir);
    return {
      report,
      after: verified.byKeyId,
      previousKeyRetired,
      previousKeyIds: keyring.previous.map((k) => k.id),
    };
  } finally {
    close();
  }
}

/** Step 1: new key file (the old one kept as master.key.previous), re-seal, verify. */
export async function rotateMasterKey(
  config: ServerConfig,
  env: Record<string, string | undefined>,
): Promise<RotateResult> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const keyring = await rotateKeyFiles(config.dataDir, env);
  return resealEverything(config, keyring, false);
}

/** Step 2, after every server restarted with the new key: re-seal stragglers, verify, retire the old key. */
export async function finishRotation(
  config: ServerConfig,
  env: Record<string, string | undefined>,
): Promise<RotateResult> {
  const keyring = await loadOrCreateMasterKey({ dataDir: config.dataDir, env });
  return resealEverything(config, keyring, true);
}
