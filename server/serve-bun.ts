// Serves the app with Bun.serve: the default runtime.
import type { Hono } from "hono";

export function serveBun(app: Hono<any>, opts: { host: string; port: number }) {
  return Bun.serve({ hostname: opts.host, port: opts.port, fetch: app.fetch, idleTimeout: 0 });
}
