import { type Context, Hono } from "hono";
import { isMaskable } from "../../wasm/index.ts";
import type { AppDeps } from "../deps.ts";
import { sourceIp } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { requireProjectRole } from "../services/access.ts";
import type { Requester } from "../services/audit.ts";
import { iso } from "../services/ids.ts";
import type { SecretListing, SecretScope } from "../services/secret-store.ts";
import { removeSecretVar, setSecretVar } from "../services/secret-vars.ts";

export const presentSecret = (s: SecretListing) => ({
  name: s.name,
  hint: s.hint,
  created_at: iso(s.createdAt),
  updated_at: iso(s.updatedAt),
});

/**
 * Mounts POST/GET `<base>` and DELETE `<base>/:name` for the secrets of the scope `scopeOf` resolves
 * (404 when the owner does not exist). `scopeOf` checks access: `admin` for writes, `read` to list.
 */
export function mountSecretVars(
  app: Hono<AuthEnv>,
  deps: AppDeps,
  base: string,
  /** The POST's validator: project and context variables are separate operations of one schema. */
  validator: ReturnType<typeof validate<typeof ops.setProjectEnvVar>>,
  scopeOf: (c: Context<AuthEnv>, need: "read" | "admin") => Promise<SecretScope>,
) {
  const by = (c: Context<AuthEnv>): Requester => ({ userId: c.get("user").id, ip: sourceIp(deps, c) });

  app.post(base, validator, async (c) => {
    const scope = await scopeOf(c, "admin");
    const { name, value } = c.req.valid("json");
    const { created, listing } = await setSecretVar(deps.secrets, scope, { name, value }, by(c));
    const warnings = isMaskable(value)
      ? []
      : [
          {
            code: "secret_not_maskable",
            message: `the value of ${name} is shorter than 4 bytes, so it cannot be masked in build logs: a step that prints it shows it`,
          },
        ];
    return c.json({ ...presentSecret(listing), created, warnings }, 201);
  });

  app.get(base, async (c) => {
    const scope = await scopeOf(c, "read");
    const items = await deps.secrets.list(scope);
    return c.json({ items: items.map(presentSecret), next_cursor: null });
  });

  app.delete(`${base}/:name`, async (c) => {
    const scope = await scopeOf(c, "admin");
    await removeSecretVar(deps.secrets, scope, c.req.param("name"), by(c));
    return c.body(null, 204);
  });
}

export const envVarRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  mountSecretVars(app, deps, "/projects/:id/envvars", validate(ops.setProjectEnvVar), async (c, need) => {
    const project = await requireProjectRole(deps, c.get("user"), c.req.param("id")!, need);
    return { kind: "project", id: project.id };
  });
  return app;
};
