// Security headers on every response: a strict Content-Security-Policy (same-origin only, no inline
// script, never framed), nosniff, no referrer, and HSTS when the server speaks TLS (HSTS over plain
// HTTP is ignored by browsers and would only mislead).
import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";

export interface SecureHeadersOptions {
  /** The server is served over HTTPS: send Strict-Transport-Security. */
  tls: boolean;
  /** HSTS max-age in seconds (default one year). */
  hstsMaxAge?: number;
}

export const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", "data:"],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

export const cairnSecureHeaders = (options: SecureHeadersOptions): MiddlewareHandler => {
  const { tls, hstsMaxAge } = { hstsMaxAge: 31_536_000, ...options } satisfies SecureHeadersOptions;
  return secureHeaders({
    contentSecurityPolicy: CONTENT_SECURITY_POLICY,
    strictTransportSecurity: tls ? `max-age=${hstsMaxAge}; includeSubDomains` : false,
    xFrameOptions: "DENY",
    referrerPolicy: "no-referrer",
    xContentTypeOptions: true,
  });
};
