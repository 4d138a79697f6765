// A project's source-control settings: follow/unfollow, branch filters, default branch, pinned host
// keys, the forge connection (token sealed, never shown), the webhook secret (shown once) and the
// deploy key (public half shown; added to and removed from the forge when one is connected).
import { eq } from "drizzle-orm";
import type { Context } from "hono";
import { Hono } from "hono";
import { projects } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError, BadRequest, Conflict, NotFound } from "../errors.ts";
import { validateBranchFilters } from "../forge/branch-filters.ts";
import { addDeployKey, removeDeployKey } from "../forge/github/keys.ts";
import {
  deployKeyContext,
  forgeConnection,
  forgeSettingsOf,
  forgeTokenContext,
  newWebhookSecret,
  parseForgeSettings,
  sealWebhookSecret,
} from "../forge/project-forge.ts";
import { publicBase, sourceIp } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { seal } from "../secrets/index.ts";
import { requireJobRole, requireProjectRole } from "../services/access.ts";
import { audit } from "../services/audit.ts";
import { generateDeployKey } from "../source/deploy-keys.ts";

type Project = typeof projects.$inferSelect;

export const webhookUrls = (base: string, projectId: string) => ({
  github: `${base}/api/v1/hooks/github/${projectId}`,
  generic: `${base}/api/v1/hooks/generic/${projectId}`,
});

/** The source-control half of a project's JSON: never the webhook secret, the token or the private key. */
export const presentSourceControl = (p: Project, base: string) => ({
  branch_filters: JSON.parse(p.branchFilters) as string[],
  webhook_url: webhookUrls(base, p.id).github,
  generic_webhook_url: webhookUrls(base, p.id).generic,
  webhook_secret_set: p.webhookSecret !== null,
  forge: forgeSettingsOf(p) ? { ...forgeSettingsOf(p), token_set: p.forgeToken !== null } : null,
  known_hosts: p.knownHosts,
  deploy_key: p.deployKeyPublic
    ? { public_key: p.deployKeyPublic, fingerprint: p.deployKeyFingerprint }
    : null,
});

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

export const projectSettingsRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db, keyring } = deps;

  const findProject = async (id: string) => {
    const p = await db.query.projects.findFirst({ where: eq(projects.id, id) });
    if (!p) throw new NotFound("project", id);
    return p;
  };
  const actorOf = (c: Context<AuthEnv>) => ({ type: "user" as const, id: c.get("user").id });

  const setFollowed = async (c: Context<AuthEnv>, followed: boolean) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id") ?? "", "admin");
    await db.transaction(async (tx) => {
      await tx.update(projects).set({ followed }).where(eq(projects.id, project.id));
      await audit(tx, {
        actor: actorOf(c),
        action: "project.settings_changed",
        target: { type: "project", id: project.id },
        ip: sourceIp(deps, c),
        details: { fields: ["followed"], followed },
      });
    });
    return c.json({ id: project.id, followed });
  };
  app.post("/projects/:id/follow", (c) => setFollowed(c, true));
  app.post("/projects/:id/unfollow", (c) => setFollowed(c, false));

  app.patch("/projects/:id", validate(ops.updateProject), async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "admin");
    const body = c.req.valid("json");
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
    if (body.forge !== undefined) {
      if (body.forge === null) {
        set.forge = null;
        set.forgeToken = null;
      } else {
        const { settings, token } = parseForgeSettings(body.forge);
        set.forge = JSON.stringify(settings);
        if (token !== undefined) set.forgeToken = seal(keyring, token, forgeTokenContext(project.id));
      }
    }
    await db.transaction(async (tx) => {
      if (Object.keys(set).length) await tx.update(projects).set(set).where(eq(projects.id, project.id));
      await audit(tx, {
        actor: actorOf(c),
        action: "project.settings_changed",
        target: { type: "project", id: project.id },
        ip: sourceIp(deps, c),
        // Names only: the token never reaches the audit log.
        details: {
          fields: Object.keys(body),
          ...("forge" in body ? { forge_token_changed: "forgeToken" in set } : {}),
        },
      });
    });
    return c.json({
      id: project.id,
      ...presentSourceControl(await findProject(project.id), publicBase(deps, c)),
      followed: set.followed ?? project.followed,
      default_branch: set.defaultBranch ?? project.defaultBranch,
      max_concurrent_jobs: "maxConcurrentJobs" in set ? set.maxConcurrentJobs : project.maxConcurrentJobs,
    });
  });

  app.post("/projects/:id/webhook-secret", async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "admin");
    const secret = newWebhookSecret();
    await db.transaction(async (tx) => {
      await tx
        .update(projects)
        .set({ webhookSecret: sealWebhookSecret(keyring, project.id, secret) })
        .where(eq(projects.id, project.id));
      await audit(tx, {
        actor: actorOf(c),
        action: "project.webhook_secret_rotated",
        target: { type: "project", id: project.id },
        ip: sourceIp(deps, c),
      });
    });
    // Shown this once: only the sealed form is kept.
    return c.json({ webhook_secret: secret, ...webhookUrls(publicBase(deps, c), project.id) }, 201);
  });

  app.get("/projects/:id/deploy-key", async (c) => {
    const p = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "read");
    if (!p.deployKeyPublic) throw new ApiError(404, "not_found", `project ${p.id} has no deploy key`);
    return c.json({
      public_key: p.deployKeyPublic,
      fingerprint: p.deployKeyFingerprint,
      forge_key_id: p.deployKeyForgeId,
    });
  });

  app.post("/projects/:id/deploy-key", async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "admin");
    if (project.deployKeyPublic) {
      throw new Conflict(
        "the project already has a deploy key: DELETE it first to make a new one",
        { fingerprint: project.deployKeyFingerprint },
        "deploy_key_exists",
      );
    }
    const key = await generateDeployKey(`cairn deploy key for ${project.name}`);
    let forge: { added: boolean; id?: string; error?: string } | null = null;
    const conn = forgeConnection(keyring, project);
    if (conn) {
      try {
        forge = { added: true, id: await addDeployKey(conn, `Cairn CI (${project.name})`, key.publicKey) };
      } catch (err) {
        forge = { added: false, error: (err as Error).message };
      }
    }
    await db.transaction(async (tx) => {
      await tx
        .update(projects)
        .set({
          deployKeyPublic: key.publicKey,
          deployKeyFingerprint: key.fingerprint,
          deployKeyPrivate: seal(keyring, key.privateKey, deployKeyContext(project.id)),
          deployKeyForgeId: forge?.id ?? null,
        })
        .where(eq(projects.id, project.id));
      await audit(tx, {
        actor: actorOf(c),
        action: "deploy_key.added",
        target: { type: "project", id: project.id },
        ip: sourceIp(deps, c),
        details: { fingerprint: key.fingerprint, forge_key_id: forge?.id ?? null },
      });
    });
    return c.json({ public_key: key.publicKey, fingerprint: key.fingerprint, forge }, 201);
  });

  app.delete("/projects/:id/deploy-key", async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "admin");
    if (!project.deployKeyPublic)
      throw new ApiError(404, "not_found", `project ${project.id} has no deploy key`);
    let forge: { removed: boolean; error?: string } | null = null;
    const conn = project.deployKeyForgeId ? forgeConnection(keyring, project) : null;
    if (conn && project.deployKeyForgeId) {
      try {
        await removeDeployKey(conn, project.deployKeyForgeId);
        forge = { removed: true };
      } catch (err) {
        forge = { removed: false, error: (err as Error).message };
      }
    }
    await db.transaction(async (tx) => {
      await tx
        .update(projects)
        .set({
          deployKeyPublic: null,
          deployKeyFingerprint: null,
          deployKeyPrivate: null,
          deployKeyForgeId: null,
        })
        .where(eq(projects.id, project.id));
      await audit(tx, {
        actor: actorOf(c),
        action: "deploy_key.removed",
        target: { type: "project", id: project.id },
        ip: sourceIp(deps, c),
        details: { fingerprint: project.deployKeyFingerprint, forge_removed: forge?.removed ?? null },
      });
    });
    return c.json({ removed: true, fingerprint: project.deployKeyFingerprint, forge });
  });

  app.post("/jobs/:id/approve", async (c) => {
    const id = c.req.param("id");
    await requireJobRole(deps, c.get("user"), id, "write");
    const result = await deps.scheduler.approve(id);
    if (result === "not_pending") {
      throw new Conflict(
        `job ${id} is not an approval job waiting to be approved`,
        { job: id },
        "not_pending_approval",
      );
    }
    if (result === "not_ready")
      throw new Conflict(
        `job ${id} waits for the jobs it requires to succeed first`,
        { job: id },
        "approval_not_ready",
      );
    await audit(db, {
      actor: actorOf(c),
      action: "job.approved",
      target: { type: "job", id },
      ip: sourceIp(deps, c),
    });
    return c.json({ id, status: "success", approval: "approved" });
  });

  return app;
};
