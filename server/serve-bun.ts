// Serves the app with Bun.serve: the default runtime.
import type { Hono } from "hono";
import { upgradeWebSocket, websocket } from "hono/bun";

/** Bun's WebSocket upgrade, handed to the app as a port (AppDeps.upgradeWebSocket). */
export const bunUpgradeWebSocket = upgradeWebSocket;

export function serveBun(app: Hono<any>, opts: { host: string; port: number }) {
  return Bun.serve({ hostname: opts.host, port: opts.port, fetch: app.fetch, websocket, idleTimeout: 0 });
}
