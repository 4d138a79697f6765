// Serves the app with Bun.serve: the default runtime.
import type { Context, Hono } from "hono";
import { getConnInfo, upgradeWebSocket, websocket } from "hono/bun";
import { MAX_REQUEST_BODY_BYTES } from "./app.ts";
import type { ListenOptions, RuntimeAdapter } from "./runtime.ts";

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

export type BunServeOptions = ListenOptions;

// biome-ignore lint/suspicious/noExplicitAny: a listener serves any app, whatever its Env
export function serveBun(app: Hono<any>, opts: BunServeOptions) {
  return Bun.serve({
    hostname: opts.host,
    port: opts.port,
    fetch: app.fetch,
    websocket,
    idleTimeout: 0,
    // Bun's default (128 MiB) would cut off large cache uploads; app.ts limits every other route.
    maxRequestBodySize: MAX_REQUEST_BODY_BYTES,
    ...(opts.tls ? { tls: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
  });
}

export const bunRuntime: RuntimeAdapter = {
  name: "bun",
  async listen(app, opts) {
    const server = serveBun(app, opts);
    return { port: server.port ?? opts.port, stop: () => server.stop(true) };
  },
  upgradeWebSocket: bunUpgradeWebSocket,
  clientIp: bunClientIp,
  collectGarbage: () => Bun.gc(true),
};
