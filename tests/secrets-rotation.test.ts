// `cairn-server rotate-key` on a real data dir and libSQL file, run as the real CLI: every secret is
// re-sealed under the new key and stays readable; none is left under the old key; a value a still-
// running server sealed with the old key is caught by --finish; an unreadable row is named, not lost.
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { type Db, openDb } from "../server/db/client.ts";
import { contextEnvVars, contexts, projectEnvVars, projects } from "../server/db/schema.ts";
import { envelopeKeyId, type Keyring, loadOrCreateMasterKey, open, seal } from "../server/secrets/index.ts";
import { SecretStore } from "../server/services/secret-store.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer } from "./support/server.ts";

const root = join(import.meta.dir, "..");
// A test runs the CLI up to three times (its own preconditions): seconds each on a busy machine.
setDefaultTimeout(60_000);
const WEBHOOK_SECRET = "rotation-webhook-secret-444";
const DEPLOY_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nrotation-deploy-key-555\n-----END OPENSSH PRIVATE KEY-----\n";
const VALUES: Record<string, string> = {
  ONE: "rotation-value-one-111",
  TWO: "rotation-value-two-222",
  CTX: "rotation-context-333",
};

const cli = (dataDir: string, ...args: string[]) => {
  const env: Record<string, string | undefined> = { ...process.env, CAIRN_DATA_DIR: dataDir };
  delete env.CAIRN_MASTER_KEY;
  delete env.CAIRN_MASTER_KEY_PREVIOUS;
  const r = spawnSync(process.execPath, [join(root, "server/cli.ts"), "rotate-key", ...args], {
    encoding: "utf8",
    env,
  });
  return { code: r.status, out: r.stdout + r.stderr };
};

async function withDb<T>(dataDir: string, fn: (db: Db) => Promise<T>): Promise<T> {
  const { db, close } = await openDb(`file:${join(dataDir, "cairn.db")}`);
  try {
    return await fn(db);
  } finally {
    close();
  }
}

const keyIds = (dataDir: string) =>
  withDb(dataDir, async (db) => {
    const rows = [...(await db.select().from(projectEnvVars)), ...(await db.select().from(contextEnvVars))];
    const project = (await db.select().from(projects))[0];
    return [...rows.map((r) => r.envelope), project.webhookSecret!, project.deployKeyPrivate!].map((e) =>
      envelopeKeyId(e),
    );
  });

async function readAll(dataDir: string, keyring: Keyring) {
  return withDb(dataDir, async (db) => {
    const project = (await db.select().from(projects))[0];
    const vars = await new SecretStore(db, keyring).forJob(project.id, ["rot"]);
    // The project's own sealed columns (webhook secret, deploy key) are rotated too.
    expect(open(keyring, project.webhookSecret!, `webhook:${project.id}`)).toBe(WEBHOOK_SECRET);
    expect(open(keyring, project.deployKeyPrivate!, `deploykey:${project.id}`)).toBe(DEPLOY_KEY);
    return vars;
  });
}

describe("rotate-key", () => {
  // A data dir with its secrets sealed under one key, made once; each test rotates a copy of its own.
  let template: string;
  let dataDir: string;
  let oldKeyring: Keyring;

  beforeAll(async () => {
    template = mkdtempSync(join(tmpdir(), "cairn-rotate-"));
    const dataDir = template;
    const server = await startTestServer({ dataDir });
    const repo = createRepo();
    repo.commit({ README: "x\n" });
    const project = (await (
      await server.api("/api/v1/projects", { method: "POST", json: { name: "rot", repo_url: repo.bare } })
    ).json()) as { id: string };
    const ctx = (await (
      await server.api("/api/v1/contexts", { method: "POST", json: { name: "rot" } })
    ).json()) as { id: string };
    for (const name of ["ONE", "TWO"]) {
      await server.api(`/api/v1/projects/${project.id}/envvars`, {
        method: "POST",
        json: { name, value: VALUES[name] },
      });
    }
    await server.api(`/api/v1/contexts/${ctx.id}/envvars`, {
      method: "POST",
      json: { name: "CTX", value: VALUES.CTX },
    });
    await server.stop();
    oldKeyring = await loadOrCreateMasterKey({ dataDir });
    await withDb(dataDir, (db) =>
      db
        .update(projects)
        .set({
          webhookSecret: seal(oldKeyring, WEBHOOK_SECRET, `webhook:${project.id}`),
          deployKeyPrivate: seal(oldKeyring, DEPLOY_KEY, `deploykey:${project.id}`),
        })
        .where(eq(projects.id, project.id)),
    );
  }, 30_000);
  afterAll(() => rmSync(template, { recursive: true, force: true }));
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), "cairn-rotate-"));
    cpSync(template, dataDir, { recursive: true });
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  /** The first rotation, as the first test checks it. */
  function rotate(): void {
    const r = cli(dataDir);
    expect(r.out).toContain("5 sealed value(s): 5 re-sealed, 0 already");
    expect(r.code).toBe(0);
  }

  /** A server that was not restarted still seals with the old key. */
  const sealLateWithOldKey = () =>
    withDb(dataDir, async (db) => {
      const ctx = (await db.query.contexts.findFirst({ where: eq(contexts.name, "rot") }))!;
      await new SecretStore(db, oldKeyring).put(
        { kind: "context", id: ctx.id },
        "LATE",
        "sealed-by-an-old-server",
      );
    });

  test("re-seals every value under a new key, verifies, and reports counts", async () => {
    expect(new Set(await keyIds(dataDir))).toEqual(new Set([oldKeyring.current.id]));
    const oldKeyFile = readFileSync(join(dataDir, "master.key"), "utf8");
    const r = cli(dataDir);
    expect(r.out).toContain("5 sealed value(s): 5 re-sealed, 0 already");
    expect(r.code).toBe(0);
    const keyring = await loadOrCreateMasterKey({ dataDir });
    expect(keyring.current.id).not.toBe(oldKeyring.current.id);
    expect(r.out).toContain(`values per key now: ${keyring.current.id}: 5`);
    expect(readFileSync(join(dataDir, "master.key.previous"), "utf8")).toBe(oldKeyFile);
    // None is left under the old key, and every one still opens, to the same value.
    expect(new Set(await keyIds(dataDir))).toEqual(new Set([keyring.current.id]));
    expect(await readAll(dataDir, keyring)).toEqual(VALUES);
  });

  test("a second rotation before --finish is refused and says what to do", () => {
    rotate();
    const r = cli(dataDir);
    expect(r.code).toBe(1);
    expect(r.out).toContain("rotate-key --finish");
  });

  test("--finish re-seals what an old server sealed meanwhile, then retires the old key", async () => {
    rotate();
    await sealLateWithOldKey();
    const keyring = await loadOrCreateMasterKey({ dataDir });
    expect((await keyIds(dataDir)).filter((id) => id === oldKeyring.current.id)).toHaveLength(1);
    const r = cli(dataDir, "--finish");
    expect(r.out).toContain("6 sealed value(s): 1 re-sealed, 5 already");
    expect(r.out).toContain("master.key.previous removed");
    expect(r.code).toBe(0);
    expect(existsSync(join(dataDir, "master.key.previous"))).toBe(false);
    // Only the new key is loaded now, and everything opens with it.
    const only = await loadOrCreateMasterKey({ dataDir });
    expect(only.previous).toHaveLength(0);
    expect(only.current.id).toBe(keyring.current.id);
    expect(await readAll(dataDir, only)).toEqual({ ...VALUES, LATE: "sealed-by-an-old-server" });
  });

  test("an unreadable row is named, the others are re-sealed, and the old key is kept", async () => {
    // A rotation finished after a late value: six values under one key, no previous key.
    rotate();
    await sealLateWithOldKey();
    expect(cli(dataDir, "--finish").code).toBe(0);
    await withDb(dataDir, async (db) => {
      const row = (await db.query.projectEnvVars.findFirst({ where: eq(projectEnvVars.name, "TWO") }))!;
      const parts = row.envelope.split(":");
      const box = Buffer.from(parts[3], "base64");
      box[0] ^= 1;
      await db
        .update(projectEnvVars)
        .set({ envelope: [...parts.slice(0, 3), box.toString("base64")].join(":") })
        .where(eq(projectEnvVars.id, row.id));
    });
    const r = cli(dataDir);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/1 of 6 secret\(s\) could not be opened/);
    expect(r.out).toContain("name=TWO");
    for (const v of Object.values(VALUES)) expect(r.out).not.toContain(v);
    expect(existsSync(join(dataDir, "master.key.previous"))).toBe(true);
    const keyring = await loadOrCreateMasterKey({ dataDir });
    const ids = await keyIds(dataDir);
    expect(ids.filter((id) => id === keyring.current.id)).toHaveLength(5);
  });
});
