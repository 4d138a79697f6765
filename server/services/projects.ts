// Projects and their source-control settings: creation (with its first webhook secret), follow and
// unfollow, branch filters, default branch, pinned host keys, the forge connection (token sealed)
// and webhook-secret rotation. Every change writes its audit event in the same transaction.
import { and, asc, eq, gt, inArray } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { projects } from "../db/schema.ts";
import { BadRequest, Conflict, NotFound } from "../errors.ts";
import { validateBranchFilters } from "../forge/branch-filters.ts";
import {
  newWebhookSecret,
  parseForgeSettings,
  sealForgeToken,
  sealWebhookSecret,
} from "../forge/project-forge.ts";
import type { Keyring } from "../secrets/index.ts";
import { audit, byUser, type Requester } from "./audit.ts";
import { newId } from "./ids.ts";

export type Project = typeof projects.$inferSelect;

export async function findProject(db: Db, id: string): Promise<Project> {
  const p = await db.query.projects.findFirst({ where: eq(projects.id, id) });
  if (!p) throw new NotFound("project", id);
  return p;
}

/** A git URL Cairn can fetch: ssh://, git@host:path, https://, file:// or an absolute local path. */
export function checkRepoUrl(url: string): void {
  const ok =
    /^(ssh|https?|git|file):\/\/\S+$/.test(url) || /^[\w.-]+@[\w.-]+:\S+$/.test(url) || /^\/\S*$/.test(url);
  if (!ok || url.startsWith("-")) {
    throw new BadRequest(
      "`repo_url` must be a git URL: ssh://, git@host:path, https://, file:// or an absolute path",
      { field: "repo_url" },
      "invalid_body",
    );
  }
}

/** known_hosts lines: `host[,host] keytype base64`, comments and blank lines allowed. */
export function validateKnownHosts(value: unknown): string | null {
  if (value === null) return null;
  const bad = (m: string) => new BadRequest(m, { field: "known_hosts" }, "invalid_body");
  if (typeof value !== "string" || value.length > 65_536)
    throw bad("`known_hosts` must be a string of known_hosts lines (or null)");
  for (const [i, line] of value.split("\n").entries()) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const fields = t.split(/\s+/);
    const at = fields[0].startsWith("@") ? 1 : 0; // @cert-authority / @revoked markers
    const [, type, key] = fields.slice(at);
    if (!type || !key || !/^(ssh-|ecdsa-|sk-)/.test(type) || !/^[A-Za-z0-9+/]+=*$/.test(key)) {
      throw bad(`known_hosts line ${i + 1} is not \`host keytype base64-key\``);
    }
  }
  return value.trim() ? `${value.trim()}\n` : null;
}

/** A new project; its webhook secret is returned this once (only the sealed form is kept). */
export async function createProject(
  db: Db,
  keyring: Keyring,
  input: { name: string; repoUrl: string; defaultBranch: string },
): Promise<{ project: Project; webhookSecret: string }> {
  checkRepoUrl(input.repoUrl);
  const existing = await db.query.projects.findFirst({ where: eq(projects.name, input.name) });
  if (existing)
    throw new Conflict(`a project named ${input.name} already exists`, { id: existing.id }, "project_exists");
  const id = newId();
  const webhookSecret = newWebhookSecret();
  const [project] = await db
    .insert(projects)
    .values({ ...input, id, webhookSecret: sealWebhookSecret(keyring, id, webhookSecret) })
    .returning();
  return { project, webhookSecret };
}

/** Projects by name, after `after`; `readable` limits them to those ids (null: all). */
export function listProjects(db: Db, q: { readable: string[] | null; after?: string; limit: number }) {
  return db
    .select()
    .from(projects)
    .where(
      and(
        q.readable ? inArray(projects.id, q.readable) : undefined,
        q.after ? gt(projects.name, q.after) : undefined,
      ),
    )
    .orderBy(asc(projects.name))
    .limit(q.limit);
}

export async function setFollowed(
  db: Db,
  projectId: string,
  followed: boolean,
  by: Requester,
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.update(projects).set({ followed }).where(eq(projects.id, projectId));
    await audit(tx, {
      actor: byUser(by),
      action: "project.settings_changed",
      target: { type: "project", id: projectId },
      ip: by.ip,
      details: { fields: ["followed"], followed },
    });
  });
}

/** The settings a PATCH may change; absent fields stay as they are. */
export interface ProjectSettingsChange {
  followed?: boolean;
  branch_filters?: unknown;
  default_branch?: string;
  known_hosts?: unknown;
  max_concurrent_jobs?: number | null;
  forge?: unknown;
  pass_secrets_to_forks?: boolean;
  /** `none`: the project's jobs get no network even on a builder with its NAT bridge. */
  network?: "egress" | "none";
}

/** Checks and applies a settings change; the forge token is sealed and named in the audit log only as changed. */
export async function updateSettings(
  db: Db,
  keyring: Keyring,
  project: Project,
  body: ProjectSettingsChange,
  by: Requester,
): Promise<Project> {
  const set: Partial<Project> = {};
  if (body.followed !== undefined) set.followed = body.followed;
  if (body.branch_filters !== undefined)
    set.branchFilters = JSON.stringify(validateBranchFilters(body.branch_filters));
  if (body.default_branch !== undefined) {
    const b = body.default_branch;
    if (b.startsWith("-") || b.includes("..") || /\s/.test(b)) {
      throw new BadRequest(
        "`default_branch` is not a valid branch name",
        { field: "default_branch" },
        "invalid_body",
      );
    }
    set.defaultBranch = b;
  }
  if (body.known_hosts !== undefined) set.knownHosts = validateKnownHosts(body.known_hosts);
  if (body.max_concurrent_jobs !== undefined) set.maxConcurrentJobs = body.max_concurrent_jobs;
  if (body.pass_secrets_to_forks !== undefined) set.passSecretsToForks = body.pass_secrets_to_forks;
  if (body.network !== undefined) {
    if (body.network !== "egress" && body.network !== "none") {
      throw new BadRequest("`network` must be egress or none", { field: "network" }, "invalid_body");
    }
    set.network = body.network;
  }
  if (body.forge !== undefined) {
    if (body.forge === null) {
      set.forge = null;
      set.forgeToken = null;
    } else {
      const { settings, token } = parseForgeSettings(body.forge);
      set.forge = JSON.stringify(settings);
      if (token !== undefined) set.forgeToken = sealForgeToken(keyring, project.id, token);
    }
  }
  await db.transaction(async (tx) => {
    if (Object.keys(set).length) await tx.update(projects).set(set).where(eq(projects.id, project.id));
    await audit(tx, {
      actor: byUser(by),
      action: "project.settings_changed",
      target: { type: "project", id: project.id },
      ip: by.ip,
      // Names only: the token never reaches the audit log.
      details: {
        fields: Object.keys(body),
        ...("forge" in body ? { forge_token_changed: "forgeToken" in set } : {}),
        // Who gave (or took back) forks' builds this project's secrets, in so many words.
        ...(body.pass_secrets_to_forks !== undefined
          ? { pass_secrets_to_forks: body.pass_secrets_to_forks }
          : {}),
        ...(body.network !== undefined ? { network: body.network } : {}),
      },
    });
  });
  return findProject(db, project.id);
}

/** A new webhook secret, returned this once: only its sealed form is kept. */
export async function rotateWebhookSecret(
  db: Db,
  keyring: Keyring,
  projectId: string,
  by: Requester,
): Promise<string> {
  const secret = newWebhookSecret();
  await db.transaction(async (tx) => {
    await tx
      .update(projects)
      .set({ webhookSecret: sealWebhookSecret(keyring, projectId, secret) })
      .where(eq(projects.id, projectId));
    await audit(tx, {
      actor: byUser(by),
      action: "project.webhook_secret_rotated",
      target: { type: "project", id: projectId },
      ip: by.ip,
    });
  });
  return secret;
}

/** Each project's name by id (for restrictions that name projects). */
export async function projectNames(db: Db, ids?: string[]): Promise<Map<string, string>> {
  const rows = await db
    .select({ id: projects.id, name: projects.name })
    .from(projects)
    .where(ids ? inArray(projects.id, ids) : undefined);
  return new Map(rows.map((p) => [p.id, p.name]));
}
