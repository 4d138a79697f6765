// What routes read off a request beyond its body: who sent it and where this server is reached.
// Structural parameters, not AppDeps, so this module imports nothing from the app that uses it.
import type { Context } from "hono";

/** The request's source address for the audit log (AppDeps.clientIp), or null. */
export const sourceIp = (deps: { clientIp?: (c: Context) => string | null }, c: Context): string | null =>
  deps.clientIp?.(c) ?? null;

/** Where people and forges reach Cairn: CAIRN_PUBLIC_URL, else the request's own origin. */
export const publicBase = (deps: { publicUrl?: string }, c: Context): string =>
  (deps.publicUrl ?? new URL(c.req.url).origin).replace(/\/+$/, "");
