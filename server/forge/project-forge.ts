// A project's sealed source-control material — webhook secret, forge token, deploy key — and its forge
// settings. Each sealed value is bound to its row as db/sealed-columns.ts says.
import type { projects } from "../db/schema.ts";
import { openFrom, SEALED_COLUMNS, sealIn } from "../db/sealed-columns.ts";
import { BadRequest } from "../errors.ts";
import type { Keyring } from "../secrets/index.ts";
import { DEFAULT_GITHUB_API, type GithubConnection } from "./github/client.ts";

type Project = typeof projects.$inferSelect;

const { webhookSecret, forgeToken, deployKey } = SEALED_COLUMNS;

/** 256 random bits, hex: what the operator pastes into the forge's webhook form. */
export function newWebhookSecret(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}

export const sealWebhookSecret = (keyring: Keyring, projectId: string, secret: string) =>
  sealIn(keyring, webhookSecret, { id: projectId }, secret);
export const sealForgeToken = (keyring: Keyring, projectId: string, token: string) =>
  sealIn(keyring, forgeToken, { id: projectId }, token);
export const sealDeployKey = (keyring: Keyring, projectId: string, privateKey: string) =>
  sealIn(keyring, deployKey, { id: projectId }, privateKey);

export function webhookSecretOf(keyring: Keyring, project: Project): string | null {
  return project.webhookSecret ? openFrom(keyring, webhookSecret, project, project.webhookSecret) : null;
}

export function deployKeyOf(keyring: Keyring, project: Project): string | null {
  return project.deployKeyPrivate ? openFrom(keyring, deployKey, project, project.deployKeyPrivate) : null;
}

export interface ForgeSettings {
  kind: "github";
  api_url: string;
  /** "owner/name". */
  repo: string;
}

export function forgeSettingsOf(project: Project): ForgeSettings | null {
  return project.forge ? (JSON.parse(project.forge) as ForgeSettings) : null;
}

export function forgeConnection(keyring: Keyring, project: Project): GithubConnection | null {
  const settings = forgeSettingsOf(project);
  if (!settings || !project.forgeToken) return null;
  const token = openFrom(keyring, forgeToken, project, project.forgeToken);
  return { apiUrl: settings.api_url, repo: settings.repo, token };
}

/**
 * Checks a `forge` value from the API: `{kind: "github", repo: "owner/name", api_url?, token?}`.
 * The token is returned apart, to be sealed; it is never stored or shown in the clear.
 */
export function parseForgeSettings(value: unknown): { settings: ForgeSettings; token?: string } {
  const bad = (message: string) => new BadRequest(message, { field: "forge" }, "invalid_body");
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw bad("`forge` must be an object or null");
  const v = value as Record<string, unknown>;
  if ((v.kind ?? "github") !== "github")
    throw bad('`forge.kind` must be "github" (GitHub or GitHub Enterprise)');
  if (typeof v.repo !== "string" || !/^[\w.-]+\/[\w.-]+$/.test(v.repo))
    throw bad('`forge.repo` must be "owner/name"');
  const apiUrl = v.api_url ?? DEFAULT_GITHUB_API;
  if (typeof apiUrl !== "string" || !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(apiUrl)) {
    throw bad("`forge.api_url` must be an http(s) URL, e.g. https://github.example.com/api/v3");
  }
  if (
    v.token !== undefined &&
    (typeof v.token !== "string" || v.token.length === 0 || v.token.length > 1024)
  ) {
    throw bad("`forge.token` must be a non-empty string");
  }
  return {
    settings: { kind: "github", api_url: apiUrl.replace(/\/+$/, ""), repo: v.repo },
    token: v.token as string | undefined,
  };
}
