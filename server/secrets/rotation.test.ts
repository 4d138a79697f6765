import { describe, expect, test } from "bun:test";
import { envelopeKeyId, needsReseal, open, seal } from "./envelope.ts";
import { SecretRotationError } from "./errors.ts";
import { createKeyring } from "./keyring.ts";
import { generateMasterKey } from "./master-key.ts";
import { resealAll, type SealedRow } from "./rotation.ts";

async function setup(count: number) {
  const oldKey = generateMasterKey();
  const before = await createKeyring(oldKey);
  const table = new Map<string, { envelope: string; context: string; value: string }>();
  for (let i = 0; i < count; i++) {
    const context = `envvar:p${i % 3}:VAR_${i}`;
    const value = `value-${i}-${"x".repeat(i)}`;
    table.set(`row${i}`, { envelope: seal(before, value, context), context, value });
  }
  const after = await createKeyring(generateMasterKey(), [oldKey]);
  const rows = (): SealedRow[] =>
    [...table].map(([label, r]) => ({ label, envelope: r.envelope, context: r.context }));
  const write = (row: SealedRow, envelope: string) => {
    const r = table.get(row.label)!;
    expect(r.envelope).toBe(row.envelope); // conditional update: the row still holds what we read
    r.envelope = envelope;
  };
  return { before, after, table, rows, write };
}

describe("resealAll", () => {
  test("leaves none under the old key and every value readable", async () => {
    const { before, after, table, rows, write } = await setup(25);
    const report = await resealAll(after, rows(), write);
    expect(report).toEqual({
      keyId: after.current.id,
      total: 25,
      resealed: 25,
      alreadyCurrent: 0,
      byKeyId: { [before.current.id]: 25 },
    });
    for (const r of table.values()) {
      expect(needsReseal(after, r.envelope)).toBe(false);
      expect(open(after, r.envelope, r.context)).toBe(r.value);
    }
    // Readable with the new key alone: the old one can be retired.
    const newOnly = await createKeyring(after.current.bytes);
    for (const r of table.values()) expect(open(newOnly, r.envelope, r.context)).toBe(r.value);
  });

  test("is idempotent: a second run re-seals nothing", async () => {
    const { after, rows, write } = await setup(5);
    await resealAll(after, rows(), write);
    let writes = 0;
    const report = await resealAll(after, rows(), () => {
      writes++;
    });
    expect(writes).toBe(0);
    expect(report.alreadyCurrent).toBe(5);
    expect(report.resealed).toBe(0);
  });

  test("accepts an async iterator of rows (a database cursor)", async () => {
    const { after, rows, write } = await setup(4);
    async function* cursor() {
      for (const row of rows()) yield row;
    }
    expect((await resealAll(after, cursor(), write)).resealed).toBe(4);
  });

  test("fails loudly naming every row it cannot open, after re-sealing the rest", async () => {
    const { after, table, rows, write } = await setup(6);
    const stranger = await createKeyring(generateMasterKey());
    table.get("row1")!.envelope = seal(stranger, "x", table.get("row1")!.context); // unknown key
    const r4 = table.get("row4")!;
    r4.envelope = `${r4.envelope.slice(0, -6)}AAAA==`; // tampered
    table.get("row5")!.envelope = seal(after, "x", "envvar:other:ROW"); // copied from another row
    try {
      await resealAll(after, rows(), write);
      throw new Error("expected a rotation error");
    } catch (err) {
      expect(err).toBeInstanceOf(SecretRotationError);
      const e = err as SecretRotationError;
      expect(e.failures.map((f) => f.label)).toEqual(["row1", "row4", "row5"]);
      expect(e.failures.map((f) => f.code)).toEqual([
        "secret_key_unknown",
        "secret_envelope_corrupt",
        "secret_envelope_misplaced",
      ]);
      for (const label of ["row1", "row4", "row5"]) expect(e.message).toContain(label);
      expect(e.message).toContain("3 of 6");
    }
    for (const label of ["row0", "row2", "row3"]) {
      expect(envelopeKeyId(table.get(label)!.envelope)).toBe(after.current.id);
    }
  });

  test("a dry run verifies everything and writes nothing", async () => {
    const { after, rows } = await setup(3);
    const report = await resealAll(
      after,
      rows(),
      () => {
        throw new Error("must not write");
      },
      { dryRun: true },
    );
    expect(report.resealed).toBe(3);
  });

  test("a failing write stops the rotation at once", async () => {
    const { after, rows } = await setup(3);
    let calls = 0;
    const failing = () => {
      calls++;
      throw new Error("database is locked");
    };
    expect(resealAll(after, rows(), failing)).rejects.toThrow("database is locked");
    expect(calls).toBe(1);
  });
});
