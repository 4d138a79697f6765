// The OIDC issuer's public documents, outside /api/v1 where providers look for them: discovery and
// the JWKS that verifies jobs' identity tokens (services/oidc.ts). No authentication: both are public.
import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";

export const oidcRoutes = (deps: AppDeps) => {
  const app = new Hono();
  app.get("/.well-known/openid-configuration", (c) => c.json(deps.oidc.discovery()));
  app.get("/.well-known/jwks.json", async (c) => {
    c.header("cache-control", "public, max-age=300");
    return c.json(await deps.oidc.jwks());
  });
  return app;
};
