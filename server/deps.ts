// The ports and services the HTTP app is built from. Entry points (serve-bun.ts, serve-node.ts,
// tests) assemble them; the app itself touches no runtime-specific API.
import type { Context } from "hono";
import type { UpgradeWebSocket } from "hono/ws";
import type { BlobStore } from "./blobs/types.ts";
import type { Db } from "./db/client.ts";
import type { GithubOAuthConfig } from "./forge/github/oauth-config.ts";
import type { LogService } from "./logs/service.ts";
import type { Keyring } from "./secrets/index.ts";
import type { EventLog } from "./services/events.ts";
import type { OidcIssuer } from "./services/oidc.ts";
import type { PipelineSetup } from "./services/pipeline-setup.ts";
import type { TemplateTable } from "./services/pipelines.ts";
import type { ScheduleRunner } from "./services/schedule-runner.ts";
import type { Scheduler } from "./services/scheduler.ts";
import type { SecretStore } from "./services/secret-store.ts";
import type { StreamGuard } from "./services/stream-guard.ts";
import type { SourcePort } from "./source/git-mirror.ts";

export interface AppDeps {
  db: Db;
  source: SourcePort;
  logs: LogService;
  /** Caches, artifacts, workspaces and archived logs: the filesystem or S3 (blobs/index.ts). */
  blobs: BlobStore;
  scheduler: Scheduler;
  /** Fires due schedules (project schedules and config `triggers`); ticked by startBackground. */
  schedules: ScheduleRunner;
  events: EventLog;
  /** Triggered pipelines' setup after the answer (fetch, plan); resumed by startBackground. */
  setup: PipelineSetup;
  /** Signs jobs' OIDC identity tokens; serves discovery and the JWKS. */
  oidc: OidcIssuer;
  /** Open SSE/WebSocket streams, ended when their authority is revoked. */
  streams: StreamGuard;
  templates: TemplateTable;
  version: string;
  /** The runtime's WebSocket upgrade (hono/bun, @hono/node-ws, hono/deno); without it there is no /log/ws. */
  upgradeWebSocket?: UpgradeWebSocket;
  /** False when served over plain HTTP: shown by health and the UI. */
  tls: boolean;
  /** The master keyring: seals secrets at rest. */
  keyring: Keyring;
  /** Project and context environment variables (sealed). */
  secrets: SecretStore;
  /** Where people and forges reach this server (CAIRN_PUBLIC_URL): webhook URLs, commit status links. Unset: the request's origin. */
  publicUrl?: string;
  /** GitHub / GHE OAuth sign-in (CAIRN_GITHUB_CLIENT_ID, …); unset: not offered. */
  githubOAuth?: GithubOAuthConfig;
  /** The request's source address for the audit log, from the runtime's connection info (null if unknown). */
  clientIp?: (c: Context) => string | null;
}
