// Serves the app on Node 20 with @hono/node-server: `node --import tsx server/serve-node.ts`.
// WebSockets: node:http hands upgrade requests to an `upgrade` listener, not to the app; the listener
// runs the request through the app (auth, role checks and the route's upgrade handler as on Bun and
// Deno) and completes the handshake with `ws` only when the route asked for a WebSocket.
import type { IncomingMessage } from "node:http";
import { STATUS_CODES } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { pathToFileURL } from "node:url";
import { type ServerType, serve } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Hono } from "hono";
import { defineWebSocketHelper, type WSContext } from "hono/ws";
import { type WebSocket, WebSocketServer } from "ws";
import type { RuntimeAdapter } from "./runtime.ts";

/** What the route's upgrade handler leaves in `c.env` for the `upgrade` listener to find. */
const PENDING = Symbol("cairn.websocket");
interface NodeEnv {
  incoming: IncomingMessage;
  outgoing: undefined;
  [PENDING]?: (ws: WebSocket) => void;
}

const wss = new WebSocketServer({ noServer: true });

/** Node 20 has no global CloseEvent (Node 23 does); the routes read only `code` and `reason`. */
const closeEvent = (code: number, reason: string): CloseEvent =>
  typeof CloseEvent === "function"
    ? new CloseEvent("close", { code, reason })
    : (Object.assign(new Event("close"), { code, reason, wasClean: true }) as unknown as CloseEvent);

const nodeUpgradeWebSocket = defineWebSocketHelper(async (c, events) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return;
  const env = c.env as NodeEnv;
  const url = new URL(c.req.url);
  env[PENDING] = (ws) => {
    const ctx = {
      binaryType: "arraybuffer",
      protocol: ws.protocol,
      raw: ws,
      url,
      get readyState() {
        return ws.readyState;
      },
      send: (data: string | ArrayBuffer | Uint8Array) => ws.send(data),
      close: (code?: number, reason?: string) => ws.close(code, reason),
    } as unknown as WSContext<WebSocket>;
    ws.on("message", (raw, isBinary) => {
      const buf = Buffer.concat(Array.isArray(raw) ? raw : [Buffer.from(raw as ArrayBuffer)]);
      const data = isBinary
        ? buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
        : buf.toString("utf8");
      events.onMessage?.(new MessageEvent("message", { data }), ctx);
    });
    ws.on("close", (code, reason) => events.onClose?.(closeEvent(code, `${reason}`), ctx));
    ws.on("error", () => events.onError?.(new Event("error"), ctx));
    events.onOpen?.(new Event("open"), ctx);
  };
  return new Response(null, { status: 101 });
});

/** Answers upgrade requests on `server` with `app`: the app decides (401, 403, 404…), `ws` shakes hands. */
// biome-ignore lint/suspicious/noExplicitAny: a listener serves any app, whatever its Env
function acceptWebSockets(server: ServerType, app: Hono<any>, base: string): void {
  server.on("upgrade", async (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const refuse = (status: number) =>
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
    try {
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers))
        if (v) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
      const env: NodeEnv = { incoming: req, outgoing: undefined };
      const res = await app.request(new URL(req.url ?? "/", base).href, { headers }, env);
      const open = env[PENDING];
      if (res.status !== 101 || !open) return refuse(res.status === 101 ? 500 : res.status);
      wss.handleUpgrade(req, socket, head, open);
    } catch {
      refuse(500);
    }
  });
}

export const nodeRuntime: RuntimeAdapter = {
  name: "node",
  listen(app, opts) {
    return new Promise((resolve) => {
      const server: ServerType = serve(
        {
          fetch: app.fetch,
          hostname: opts.host,
          port: opts.port,
          ...(opts.tls
            ? { createServer: createHttpsServer, serverOptions: { cert: opts.tls.cert, key: opts.tls.key } }
            : {}),
        },
        (info: AddressInfo) => resolve({ port: info.port, stop: () => server.close() }),
      );
      acceptWebSockets(server, app, `${opts.tls ? "https" : "http"}://${opts.host}`);
    });
  },
  upgradeWebSocket: nodeUpgradeWebSocket,
  clientIp(c) {
    try {
      return getConnInfo(c).remote.address ?? null;
    } catch {
      return null;
    }
  },
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { serve: serveCairn } = await import("./cli.ts");
  await serveCairn({ insecureHttp: process.argv.includes("--insecure-http") }, nodeRuntime);
}
