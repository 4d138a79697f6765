// What a JavaScript runtime lends the Web-standard core: a listener, and optionally a WebSocket
// upgrade and the peer address. serve-bun.ts, serve-node.ts and serve-deno.ts each export one.
import type { Context, Hono } from "hono";
import type { UpgradeWebSocket } from "hono/ws";

export interface ListenOptions {
  host: string;
  port: number;
  /** PEM certificate chain and private key: serve HTTPS. */
  tls?: { cert: string; key: string };
}

export interface Listening {
  port: number;
  stop(): void;
}

export interface RuntimeAdapter {
  name: "bun" | "node" | "deno";
  // biome-ignore lint/suspicious/noExplicitAny: a listener serves any app, whatever its Env
  listen(app: Hono<any>, opts: ListenOptions): Promise<Listening>;
  upgradeWebSocket?: UpgradeWebSocket;
  clientIp?: (c: Context) => string | null;
  /**
   * A full garbage collection, now. The server asks for one per GARBAGE_BUDGET_BYTES of log ingested
   * and whenever the heap grew HEAP_BUDGET_BYTES since the last (server/logs/garbage.ts), so the
   * garbage of ingest, archives and reads is bounded by bytes, not by the collector's own pacing.
   * Without it the runtime's collector decides alone.
   */
  collectGarbage?: () => void;
  /**
   * The collector's heap in bytes as it is now, extra memory (array buffers, strings) included: what
   * the heap watch compares with the last collection's result. Without it, `process.memoryUsage()`'s
   * `heapUsed`, which under Bun lags while a server makes garbage (docs/perf.md, memory).
   */
  heapBytes?: () => number;
}
