// The sealed-column registry against the schema it describes, and against rotate-key: a sealed
// column without an entry, an entry without a sealed column, a secret-looking column stored in the
// clear, or an entry rotate-key does not re-seal each fails here.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Column, getTableColumns, getTableName, is } from "drizzle-orm";
import { SQLiteTable } from "drizzle-orm/sqlite-core";
import type { ServerConfig } from "../bootstrap.ts";
import { envelopeKeyId, loadOrCreateMasterKey } from "../secrets/index.ts";
import { rotateMasterKey } from "../services/rotate-key.ts";
import { type Db, openDb } from "./client.ts";
import * as schema from "./schema.ts";
import {
  openFrom,
  SEALED_COLUMNS,
  type SealedColumn,
  type SealedColumnName,
  sealedRows,
  sealIn,
} from "./sealed-columns.ts";

const tables: SQLiteTable[] = [];
for (const v of Object.values(schema) as unknown[]) if (is(v, SQLiteTable)) tables.push(v);
const columnsOf = (t: SQLiteTable) => Object.values(getTableColumns(t) as Record<string, Column>);
const entries = Object.entries(SEALED_COLUMNS) as [SealedColumnName, SealedColumn][];
const where = (c: SealedColumn) =>
  `${getTableName(c.table)}.${(getTableColumns(c.table) as Record<string, Column>)[c.column].name}`;

describe("the registry and the schema", () => {
  test("every sealed(...) column has one entry, and every entry names a sealed(...) column", () => {
    const declared = tables.flatMap((t) =>
      columnsOf(t)
        .filter(schema.isSealedColumn)
        .map((c) => `${getTableName(t)}.${c.name}`),
    );
    const listed = entries.map(([, c]) => where(c));
    expect(declared.length).toBeGreaterThan(0);
    expect([...listed].sort()).toEqual([...declared].sort());
    expect(new Set(listed).size).toBe(listed.length);
  });

  test("a column whose name says it holds secret material is sealed, a hash or an id", () => {
    // A flag or a closed set of words (`pass_secrets_to_forks`, `fork_secrets`) holds no material.
    const holdsNoValue = (c: { dataType: string; enumValues?: string[] }) =>
      c.dataType === "boolean" || (c.enumValues?.length ?? 0) > 0;
    const clear = tables.flatMap((t) =>
      columnsOf(t)
        .filter((c) => /secret|token|private|password|envelope|credential/.test(c.name))
        .filter((c) => !schema.isSealedColumn(c) && !/_(hash|id)$/.test(c.name))
        .filter((c) => !holdsNoValue(c))
        .map((c) => `${getTableName(t)}.${c.name}`),
    );
    expect(clear).toEqual([]);
  });

  test("contexts are distinct per entry, so no envelope opens in another column", () => {
    const row = { id: "x", projectId: "x", contextId: "x", name: "x", kid: "x", jobId: "x", offset: 0 };
    const contexts = entries.map(([, c]) => c.context(row as never));
    expect(new Set(contexts).size).toBe(contexts.length);
  });
});

describe("rotate-key", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "cairn-sealed-columns-"));
  const config = { dataDir, dbUrl: `file:${join(dataDir, "cairn.db")}` } as ServerConfig;
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  /** One value per entry: a new entry fails to compile here until it has one. */
  const VALUES: Record<SealedColumnName, string> = {
    projectEnvVar: "project-var-111",
    contextEnvVar: "context-var-222",
    webhookSecret: "webhook-333",
    forgeToken: "forge-444",
    deployKey: "deploy-key-555",
    oidcKey: "oidc-pkcs8-666",
    logRaw: "raw log bytes 777",
  };

  async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    const { db, close } = await openDb(config.dbUrl);
    try {
      return await fn(db);
    } finally {
      close();
    }
  }

  test("re-seals a row of every entry under the new key, each still opening to its value", async () => {
    const before = await loadOrCreateMasterKey({ dataDir, env: {} });
    const s = SEALED_COLUMNS;
    await withDb(async (db) => {
      const project = { id: "p1" };
      await db.insert(schema.projects).values({
        ...project,
        name: "sealed",
        repoUrl: "file:///nowhere",
        webhookSecret: sealIn(before, s.webhookSecret, project, VALUES.webhookSecret),
        forgeToken: sealIn(before, s.forgeToken, project, VALUES.forgeToken),
        deployKeyPrivate: sealIn(before, s.deployKey, project, VALUES.deployKey),
      });
      const pv = { projectId: "p1", name: "ONE" };
      await db.insert(schema.projectEnvVars).values({
        id: "v1",
        ...pv,
        envelope: sealIn(before, s.projectEnvVar, pv, VALUES.projectEnvVar),
        hint: "",
      });
      await db.insert(schema.contexts).values({ id: "c1", name: "sealed" });
      const cv = { contextId: "c1", name: "TWO" };
      await db.insert(schema.contextEnvVars).values({
        id: "v2",
        ...cv,
        envelope: sealIn(before, s.contextEnvVar, cv, VALUES.contextEnvVar),
        hint: "",
      });
      await db.insert(schema.oidcKeys).values({
        kid: "k1",
        privateKey: sealIn(before, s.oidcKey, { kid: "k1" }, VALUES.oidcKey),
        publicJwk: "{}",
        createdAt: 0,
      });
      await db.insert(schema.pipelines).values({
        id: "pl1",
        projectId: "p1",
        number: 1,
        sha: "0".repeat(40),
        configPath: ".circleci/config.yml",
      });
      await db.insert(schema.workflows).values({ id: "w1", pipelineId: "pl1", name: "main" });
      await db.insert(schema.jobs).values({
        id: "j1",
        pipelineId: "pl1",
        workflowId: "w1",
        projectId: "p1",
        name: "build",
        spec: "{}",
        template: "none",
      });
      const raw = { jobId: "j1", offset: 0 };
      await db
        .insert(schema.logRaw)
        .values({ ...raw, envelope: sealIn(before, s.logRaw, raw, VALUES.logRaw) });
      const { rows } = await sealedRows(db);
      expect(new Set<string>(rows.map((r) => r.column))).toEqual(new Set(Object.keys(SEALED_COLUMNS)));
    });

    const result = await rotateMasterKey(config, {});
    expect(result.report.resealed).toBe(entries.length);
    expect(result.report.keyId).not.toBe(before.current.id);
    expect(Object.keys(result.after)).toEqual([result.report.keyId]);

    const after = await loadOrCreateMasterKey({ dataDir, env: {} });
    await withDb(async (db) => {
      const { rows } = await sealedRows(db);
      expect(rows.map((r): string => r.column).sort()).toEqual(Object.keys(SEALED_COLUMNS).sort());
      for (const row of rows) {
        expect(envelopeKeyId(row.envelope)).toBe(after.current.id);
        // Opened with the entry's own context, not the one the walk reported.
        const c = SEALED_COLUMNS[row.column] as SealedColumn;
        const stored = (await db.select().from(c.table)) as Record<string, unknown>[];
        const source = stored.find((r) => r[c.column] === row.envelope)!;
        expect(openFrom(after, c, source as never, row.envelope)).toBe(VALUES[row.column]);
      }
    });
  });
});
