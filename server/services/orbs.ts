// The private orb registry: packed orb YAML by namespace/name@X.Y.Z, immutable once published
// (published by admins, audited), and resolution of the references a config declares at trigger time
// (`@X.Y` and `@X` to the newest matching version, as CircleCI does).
import { createHash } from "node:crypto";
import { and, asc, eq } from "drizzle-orm";
import { Diagnostics } from "../circleci/diagnostics.ts";
import { type OrbTexts, parseOrbRef, pickVersion, type ResolvedOrb } from "../circleci/index.ts";
import { parseTree } from "../circleci/tree.ts";
import type { Db } from "../db/client.ts";
import { orbVersions } from "../db/schema.ts";
import { Conflict, NotFound, Unprocessable } from "../errors.ts";
import { audit } from "./audit.ts";
import { newId } from "./ids.ts";

export type OrbVersionRow = typeof orbVersions.$inferSelect;

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const VERSION = /^\d{1,6}\.\d{1,6}\.\d{1,6}$/;
const MAX_BODY = 1024 * 1024;

export async function publishOrb(
  db: Db,
  actor: { id: string; ip?: string | null },
  ref: { namespace: string; name: string; version: string },
  body: string,
): Promise<OrbVersionRow> {
  const { namespace, name, version } = ref;
  if (!NAME.test(namespace) || !NAME.test(name))
    throw new Unprocessable("orb_name_invalid", "orb namespace and name use a-z, 0-9, _ and -", ref);
  if (!VERSION.test(version))
    throw new Unprocessable(
      "orb_version_invalid",
      `an orb version is X.Y.Z, not ${JSON.stringify(version)}`,
      ref,
    );
  if (body.length > MAX_BODY) throw new Unprocessable("orb_too_large", "an orb is at most 1 MiB of YAML");
  checkOrbBody(body);
  return db.transaction(async (tx) => {
    const existing = await tx.query.orbVersions.findFirst({
      where: and(
        eq(orbVersions.namespace, namespace),
        eq(orbVersions.name, name),
        eq(orbVersions.version, version),
      ),
    });
    if (existing)
      throw new Conflict(
        `${namespace}/${name}@${version} is already published; versions are immutable: publish a new one`,
        { orb: `${namespace}/${name}@${version}`, digest: existing.digest },
        "orb_version_exists",
      );
    const [row] = await tx
      .insert(orbVersions)
      .values({
        id: newId(),
        namespace,
        name,
        version,
        body,
        digest: createHash("sha256").update(body).digest("hex"),
        publishedBy: actor.id,
      })
      .returning();
    await audit(tx, {
      actor: { type: "user", id: actor.id },
      action: "orb.published",
      target: { type: "orb", id: `${namespace}/${name}@${version}` },
      ip: actor.ip ?? null,
      details: { digest: row.digest },
    });
    return row;
  });
}

/** The YAML must be an orb: a mapping whose commands, jobs and executors are mappings. */
function checkOrbBody(body: string): void {
  const diag = new Diagnostics("orb.yml");
  const tree = parseTree(body, diag);
  const problems = diag.errors.map((e) => `${e.line}:${e.col}: ${e.message}`);
  if (!problems.length && tree?.kind !== "map")
    problems.push("1:1: an orb is a mapping (`cairn orb pack` makes one)");
  if (tree?.kind === "map")
    for (const e of tree.entries)
      if (["commands", "jobs", "executors"].includes(e.key) && e.value.kind !== "map")
        problems.push(`${e.keyPos.line}:${e.keyPos.col}: \`${e.key}\` must be a mapping`);
  if (problems.length)
    throw new Unprocessable("orb_invalid", `not a valid orb: ${problems[0]}`, { problems });
}

export async function listOrbs(db: Db): Promise<{ name: string; versions: OrbVersionRow[] }[]> {
  const rows = await db
    .select()
    .from(orbVersions)
    .orderBy(asc(orbVersions.namespace), asc(orbVersions.name), asc(orbVersions.createdAt));
  const byName = new Map<string, OrbVersionRow[]>();
  for (const r of rows) {
    const key = `${r.namespace}/${r.name}`;
    byName.set(key, [...(byName.get(key) ?? []), r]);
  }
  return [...byName].map(([name, versions]) => ({ name, versions }));
}

export async function orbVersionsOf(db: Db, namespace: string, name: string): Promise<OrbVersionRow[]> {
  const rows = await db
    .select()
    .from(orbVersions)
    .where(and(eq(orbVersions.namespace, namespace), eq(orbVersions.name, name)))
    .orderBy(asc(orbVersions.createdAt));
  if (rows.length === 0) throw new NotFound("orb", `${namespace}/${name}`);
  return rows;
}

export async function orbVersion(
  db: Db,
  namespace: string,
  name: string,
  version: string,
): Promise<OrbVersionRow> {
  const row = await db.query.orbVersions.findFirst({
    where: and(
      eq(orbVersions.namespace, namespace),
      eq(orbVersions.name, name),
      eq(orbVersions.version, version),
    ),
  });
  if (!row) throw new NotFound("orb", `${namespace}/${name}@${version}`);
  return row;
}

/** The published orbs for the references a config declares; references with no match are left out. */
export async function resolveOrbs(db: Db, refs: readonly string[]): Promise<OrbTexts> {
  const out = new Map<string, ResolvedOrb>();
  const parsed = refs.flatMap((ref) => {
    const p = parseOrbRef(ref);
    return p ? [{ ref, ...p }] : [];
  });
  if (parsed.length === 0) return out;
  const rows: OrbVersionRow[] = [];
  for (const full of new Set(parsed.map((p) => p.name))) {
    const [namespace, name] = full.split("/");
    rows.push(
      ...(await db
        .select()
        .from(orbVersions)
        .where(and(eq(orbVersions.namespace, namespace), eq(orbVersions.name, name)))),
    );
  }
  for (const p of parsed) {
    const mine = rows.filter((r) => `${r.namespace}/${r.name}` === p.name);
    const version = pickVersion(
      p.version,
      mine.map((r) => r.version),
    );
    const row = mine.find((r) => r.version === version);
    if (row) out.set(p.ref, { resolved: `${p.name}@${row.version}`, text: row.body });
  }
  return out;
}
