// Serves the app on Node 20 with @hono/node-server: `node --import tsx server/serve-node.ts`.
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { type ServerType, serve } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { RuntimeAdapter } from "./runtime.ts";

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
    });
  },
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
