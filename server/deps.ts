// The ports and services the HTTP app is built from. Entry points (serve-bun.ts, serve-node.ts,
// tests) assemble them; the app itself touches no runtime-specific API.
import type { UpgradeWebSocket } from "hono/ws";
import type { Db } from "./db/client.ts";
import type { LogService } from "./logs/service.ts";
import type { EventLog } from "./services/events.ts";
import type { Scheduler } from "./services/scheduler.ts";
import type { TemplateTable } from "./services/pipelines.ts";
import type { SourcePort } from "./source/git-mirror.ts";

export interface AppDeps {
  db: Db;
  source: SourcePort;
  logs: LogService;
  scheduler: Scheduler;
  events: EventLog;
  templates: TemplateTable;
  version: string;
  /** The runtime's WebSocket upgrade (hono/bun, @hono/node-ws, hono/deno); without it there is no /log/ws. */
  upgradeWebSocket?: UpgradeWebSocket;
  /** False when served over plain HTTP: shown by health and the UI. */
  tls: boolean;
}
