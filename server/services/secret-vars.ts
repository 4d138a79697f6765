// Setting and deleting a project's or a context's environment variable: the name and value are
// checked (the value is never echoed back), the sealed row is written by the SecretStore and the
// audit event in its transaction. The event names the variable, never its value.
import { BadRequest, NotFound } from "../errors.ts";
import { validateSecretName, validateSecretValue } from "../secrets/index.ts";
import { audit, byUser, type Requester } from "./audit.ts";
import type { SecretListing, SecretScope, SecretStore } from "./secret-store.ts";

/** Checks a `{name, value}` of strings against the secret rules without ever echoing the value back. */
export function checkSecret({ name, value }: { name: string; value: string }): {
  name: string;
  value: string;
} {
  const nameError = validateSecretName(name);
  if (nameError) throw new BadRequest(nameError, { field: "name" }, "invalid_secret_name");
  const valueError = validateSecretValue(value);
  if (valueError) throw new BadRequest(valueError, { field: "value" }, "invalid_secret_value");
  return { name, value };
}

const target = (scope: SecretScope, name: string) => ({
  type: scope.kind === "project" ? "project_env_var" : "context_env_var",
  id: `${scope.id}/${name}`,
});

const details = (scope: SecretScope, name: string) => ({
  name,
  [scope.kind === "project" ? "project_id" : "context_id"]: scope.id,
});

/** Creates or replaces a variable; `created` is false for a replacement. */
export async function setSecretVar(
  secrets: SecretStore,
  scope: SecretScope,
  input: { name: string; value: string },
  by: Requester,
): Promise<{ created: boolean; listing: SecretListing }> {
  const { name, value } = checkSecret(input);
  return secrets.put(scope, name, value, (tx, isNew) =>
    audit(tx, {
      actor: byUser(by),
      action: isNew ? "secret.created" : "secret.updated",
      target: target(scope, name),
      ip: by.ip,
      details: details(scope, name),
    }),
  );
}

/** Deletes a variable (404 if there is none of that name). */
export async function removeSecretVar(
  secrets: SecretStore,
  scope: SecretScope,
  name: string,
  by: Requester,
): Promise<void> {
  const removed = await secrets.remove(scope, name, (tx) =>
    audit(tx, {
      actor: byUser(by),
      action: "secret.deleted",
      target: target(scope, name),
      ip: by.ip,
      details: details(scope, name),
    }),
  );
  if (!removed) throw new NotFound("environment variable", name);
}
