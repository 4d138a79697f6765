// The pure half of `cairn-server rotate-key`: re-seal every stored value under the keyring's current key.
// The caller supplies the rows (from the database) and a write callback (a conditional update).

import { bytesEqual } from "../../protocol/encoding.ts";
import { envelopeKeyId, openBytes, seal } from "./envelope.ts";
import { SecretRotationError, SecretsError } from "./errors.ts";
import type { Keyring } from "./keyring.ts";

export interface SealedRow {
  /** Names the row in reports and errors, e.g. `envvar project=p1 name=TOKEN`. */
  label: string;
  envelope: string;
  /** The context the value was sealed with (see envelope.ts); default "". */
  context?: string;
}

/** Stores the re-sealed envelope for `row`; should update only if the row still holds `row.envelope`. */
export type ResealWriter = (row: SealedRow, envelope: string) => void | Promise<void>;

export interface RotationOptions {
  /** Open and verify every row, write nothing: shows which rows would fail before changing anything. */
  dryRun?: boolean;
}

export interface RotationReport {
  /** The key every value is now sealed under. */
  keyId: string;
  /** Rows seen. */
  total: number;
  /** Rows re-sealed and written (or, in a dry run, that would be). */
  resealed: number;
  /** Rows already under the current key, left as they were. */
  alreadyCurrent: number;
  /** Rows seen per key id before re-sealing, e.g. { "1a2b3c4d": 12 }. */
  byKeyId: Record<string, number>;
}

/**
 * Re-seals every row not under the current key, verifies each new envelope opens to the same bytes,
 * and writes it. Rows that cannot be opened are skipped and collected; if there are any, throws a
 * SecretRotationError naming every one of them (after the readable rows have been re-sealed).
 */
export async function resealAll(
  keyring: Keyring,
  rows: Iterable<SealedRow> | AsyncIterable<SealedRow>,
  write: ResealWriter,
  options: RotationOptions = {},
): Promise<RotationReport> {
  const report: RotationReport = {
    keyId: keyring.current.id,
    total: 0,
    resealed: 0,
    alreadyCurrent: 0,
    byKeyId: {},
  };
  const failures: { label: string; code: string; message: string }[] = [];
  for await (const row of rows) {
    report.total++;
    const context = row.context ?? "";
    try {
      const keyId = envelopeKeyId(row.envelope, row.label);
      report.byKeyId[keyId] = (report.byKeyId[keyId] ?? 0) + 1;
      // Open even when already current: a rotation is also the moment to find every unreadable row.
      const plaintext = openBytes(keyring, row.envelope, context, row.label);
      if (keyId === keyring.current.id) {
        plaintext.fill(0);
        report.alreadyCurrent++;
        continue;
      }
      const resealed = seal(keyring, plaintext, context);
      const check = openBytes(keyring, resealed, context, row.label);
      const same = bytesEqual(check, plaintext);
      plaintext.fill(0);
      check.fill(0);
      if (!same)
        throw new SecretsError("secret_reseal_mismatch", `re-sealed ${row.label} did not open to its value`);
      if (!options.dryRun) await write(row, resealed);
      report.resealed++;
    } catch (err) {
      if (!(err instanceof SecretsError)) throw err; // a failing write is the caller's problem: stop at once
      failures.push({ label: row.label, code: err.code, message: err.message });
    }
  }
  if (failures.length > 0) {
    const shown = failures.slice(0, 20).map((f) => `  ${f.label}: ${f.message}`);
    if (failures.length > 20) shown.push(`  ... and ${failures.length - 20} more`);
    throw new SecretRotationError(
      `${failures.length} of ${report.total} secret(s) could not be opened and were not re-sealed ` +
        `(${report.resealed} re-sealed, ${report.alreadyCurrent} already current):\n${shown.join("\n")}`,
      failures,
      report,
    );
  }
  return report;
}
