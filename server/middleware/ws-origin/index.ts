// WebSocket upgrades carry cookies but, unlike fetch, no CORS: any page a signed-in user visits could
// open one to the server with their session (cross-site WebSocket hijacking). Browsers always send
// `Origin` on an upgrade, so one that is not the server's own (the request's host, or
// CAIRN_PUBLIC_URL) is refused; clients that are not browsers send none and authenticate by token.
import type { MiddlewareHandler } from "hono";
import { Forbidden } from "../../errors.ts";

export interface WsOriginOptions {
  /** CAIRN_PUBLIC_URL: where browsers reach the server when a proxy stands in front of it. */
  publicUrl?: string;
}

export const wsOrigin = (options: WsOriginOptions = {}): MiddlewareHandler => {
  const { publicUrl } = { ...options } satisfies WsOriginOptions;
  const publicOrigin = publicUrl ? new URL(publicUrl).origin : null;
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (origin !== undefined && !sameOrigin(origin, c.req.url, c.req.header("host"), publicOrigin)) {
      throw new Forbidden(
        `a WebSocket from ${origin.slice(0, 200)} is refused: only this server's own pages may open one`,
      );
    }
    await next();
  };
};

function sameOrigin(
  origin: string,
  requestUrl: string,
  host: string | undefined,
  publicOrigin: string | null,
): boolean {
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frames, file: pages) and anything else unparsable
  }
  if (o.protocol !== "http:" && o.protocol !== "https:") return false;
  if (publicOrigin && o.origin === publicOrigin) return true;
  return o.host === (host ?? new URL(requestUrl).host);
}
