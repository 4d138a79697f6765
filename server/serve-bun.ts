// Serves the app with Bun.serve: the default runtime.
import type { Context, Hono } from "hono";
import { getConnInfo, upgradeWebSocket, websocket } from "hono/bun";

/** Bun's WebSocket upgrade, handed to the app as a port (AppDeps.upgradeWebSocket). */
export const bunUpgradeWebSocket = upgradeWebSocket;

/** The peer address of the connection (AppDeps.clientIp); null when the request did not come through Bun.serve. */
export const bunClientIp = (c: Context): string | null => {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
};

export interface BunServeOptions {
  host: string;
  port: number;
  /** PEM certificate chain and private key: serve HTTPS. */
  tls?: { cert: string; key: string };
}

export function serveBun(app: Hono<any>, opts: BunServeOptions) {
  return Bun.serve({
    hostname: opts.host,
    port: opts.port,
    fetch: app.fetch,
    websocket,
    idleTimeout: 0,
    ...(opts.tls ? { tls: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
  });
}
