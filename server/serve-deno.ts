// Serves the app on Deno with Deno.serve: `deno run -A server/serve-deno.ts`.
import { getConnInfo, upgradeWebSocket } from "hono/deno";
import type { RuntimeAdapter } from "./runtime.ts";

declare const Deno: {
  serve(
    opts: {
      hostname: string;
      port: number;
      cert?: string;
      key?: string;
      onListen?: (addr: { port: number }) => void;
    },
    handler: (req: Request, info: unknown) => Response | Promise<Response>,
  ): { shutdown(): Promise<void> };
};

export const denoRuntime: RuntimeAdapter = {
  name: "deno",
  listen(app, opts) {
    return new Promise((resolve) => {
      const server = Deno.serve(
        {
          hostname: opts.host,
          port: opts.port,
          ...(opts.tls ? { cert: opts.tls.cert, key: opts.tls.key } : {}),
          onListen: (addr) => resolve({ port: addr.port, stop: () => void server.shutdown() }),
        },
        (req, info) => app.fetch(req, info),
      );
    });
  },
  upgradeWebSocket,
  clientIp(c) {
    try {
      return getConnInfo(c).remote.address ?? null;
    } catch {
      return null;
    }
  },
};

if (import.meta.main) {
  const { serve } = await import("./cli.ts");
  await serve(
    {
      insecureHttp:
        Deno !== undefined &&
        (globalThis as { Deno?: { args: string[] } }).Deno!.args.includes("--insecure-http"),
    },
    denoRuntime,
  );
}
