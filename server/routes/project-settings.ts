// A project's source-control settings: follow/unfollow, branch filters, default branch, pinned host
// keys, the forge connection (token sealed, never shown), the webhook secret (shown once) and the
// deploy key (public half shown; added to and removed from the forge when one is connected).
// The rules and writes are services/projects.ts and services/deploy-keys.ts.
import type { Context } from "hono";
import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { forgeSettingsOf } from "../forge/project-forge.ts";
import { publicBase, sourceIp } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { requireJobRole, requireProjectRole } from "../services/access.ts";
import { approveJob } from "../services/approvals.ts";
import type { Requester } from "../services/audit.ts";
import { addDeployKey, removeDeployKey } from "../services/deploy-keys.ts";
import { type Project, rotateWebhookSecret, setFollowed, updateSettings } from "../services/projects.ts";

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
  pass_secrets_to_forks: p.passSecretsToForks,
  forge: forgeSettingsOf(p) ? { ...forgeSettingsOf(p), token_set: p.forgeToken !== null } : null,
  known_hosts: p.knownHosts,
  deploy_key: p.deployKeyPublic
    ? { public_key: p.deployKeyPublic, fingerprint: p.deployKeyFingerprint }
    : null,
});

export const projectSettingsRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db, keyring } = deps;

  const by = (c: Context<AuthEnv>): Requester => ({ userId: c.get("user").id, ip: sourceIp(deps, c) });

  const follow = async (c: Context<AuthEnv>, followed: boolean) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id") ?? "", "admin");
    await setFollowed(db, project.id, followed, by(c));
    return c.json({ id: project.id, followed });
  };
  app.post("/projects/:id/follow", (c) => follow(c, true));
  app.post("/projects/:id/unfollow", (c) => follow(c, false));

  app.patch("/projects/:id", validate(ops.updateProject), async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "admin");
    const p = await updateSettings(db, keyring, project, c.req.valid("json"), by(c));
    return c.json({
      id: p.id,
      ...presentSourceControl(p, publicBase(deps, c)),
      followed: p.followed,
      default_branch: p.defaultBranch,
      max_concurrent_jobs: p.maxConcurrentJobs,
      network: p.network,
    });
  });

  app.post("/projects/:id/webhook-secret", async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "admin");
    const secret = await rotateWebhookSecret(db, keyring, project.id, by(c));
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
    const key = await addDeployKey(db, keyring, project, by(c));
    return c.json({ public_key: key.publicKey, fingerprint: key.fingerprint, forge: key.forge }, 201);
  });

  app.delete("/projects/:id/deploy-key", async (c) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id"), "admin");
    const removed = await removeDeployKey(db, keyring, project, by(c));
    return c.json({ removed: true, ...removed });
  });

  app.post("/jobs/:id/approve", async (c) => {
    const id = c.req.param("id");
    await requireJobRole(deps, c.get("user"), id, "write");
    await approveJob(deps, id, by(c));
    return c.json({ id, status: "success", approval: "approved" });
  });

  return app;
};
