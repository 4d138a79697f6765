// Serves the app with Bun.serve: the default runtime.
import { fullGC, heapSize } from "bun:jsc";
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
  // JavaScriptCore's full collection alone. `Bun.gc(true)` costs far more than its pause: collecting
  // every 200 ms in a hot loop took 10–18 % of its throughput with it (pauses 3 %), none with this, as
  // if what was compiled had to be compiled again. With the heap watch's collections (logs/garbage.ts)
  // a 1 GB log archived in 24–29 s and downloaded at 48–50 MB/s with it, 21–24 s and 55–59 MB/s with
  // this (18–20 s and 54–62 MB/s before the watch); memory the same within noise (docs/perf.md).
  collectGarbage: () => {
    fullGC();
  },
  // JavaScriptCore's own count of its heap, extra memory included. In a server ingesting a log of
  // empty lines, `process.memoryUsage().heapUsed` stayed up to 62 MB under it (a third of the samples
  // over 16 MiB under), so the heap watch saw the garbage late (docs/perf.md, memory).
  heapBytes: heapSize,
};
