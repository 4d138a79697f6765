import { type Context, Hono } from "hono";
import { isMaskable } from "../../wasm/index.ts";
import type { AppDeps } from "../deps.ts";
import { BadRequest, NotFound } from "../errors.ts";
import { sourceIp } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { validateSecretName, validateSecretValue } from "../secrets/index.ts";
import { requireProjectRole } from "../services/access.ts";
import { audit } from "../services/audit.ts";
import { iso } from "../services/ids.ts";
import type { SecretListing, SecretScope } from "../services/secret-store.ts";

export const presentSecret = (s: SecretListing) => ({
  name: s.name,
  hint: s.hint,
  created_at: iso(s.createdAt),
  updated_at: iso(s.updatedAt),
});

/** Checks a `{name, value}` of strings against the secret rules without ever echoing the value back. */
function checkSecret({ name, value }: { name: string; value: string }): { name: string; value: string } {
  const nameError = validateSecretName(name);
  if (nameError) throw new BadRequest(nameError, { field: "name" }, "invalid_secret_name");
  const valueError = validateSecretValue(value);
  if (valueError) throw new BadRequest(valueError, { field: "value" }, "invalid_secret_value");
  return { name, value };
}

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
  const target = (scope: SecretScope, name: string) => ({
    type: scope.kind === "project" ? "project_env_var" : "context_env_var",
    id: `${scope.id}/${name}`,
  });

  app.post(base, validator, async (c) => {
    const user = c.get("user");
    const scope = await scopeOf(c, "admin");
    const { name, value } = checkSecret(c.req.valid("json"));
    const { created, listing } = await deps.secrets.put(scope, name, value, (tx, isNew) =>
      audit(tx, {
        actor: { type: "user", id: user.id },
        action: isNew ? "secret.created" : "secret.updated",
        target: target(scope, name),
        ip: sourceIp(deps, c),
        details: { name, [scope.kind === "project" ? "project_id" : "context_id"]: scope.id },
      }),
    );
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
    const user = c.get("user");
    const scope = await scopeOf(c, "admin");
    const name = c.req.param("name");
    const removed = await deps.secrets.remove(scope, name, (tx) =>
      audit(tx, {
        actor: { type: "user", id: user.id },
        action: "secret.deleted",
        target: target(scope, name),
        ip: sourceIp(deps, c),
        details: { name, [scope.kind === "project" ? "project_id" : "context_id"]: scope.id },
      }),
    );
    if (!removed) throw new NotFound("environment variable", name);
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
