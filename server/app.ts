// The HTTP app: Web-standard Hono over injected ports. Runtime entry points adapt it
// (serve-bun.ts, serve-node.ts); nothing here is Bun-, Node- or Deno-specific.
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { AppDeps } from "./deps.ts";
import { ApiError, Busy, errorBody } from "./errors.ts";
import { type AuthEnv, userAuth } from "./middleware/auth/index.ts";
import { cairnSecureHeaders } from "./middleware/secure-headers/index.ts";
import { openApiRoutes } from "./openapi/routes.ts";
import { artifactRoutes } from "./routes/artifacts.ts";
import { auditRoutes } from "./routes/audit.ts";
import { authGithubRoutes } from "./routes/auth-github.ts";
import { blobCapabilityRoutes, builderBlobRoutes, MAX_BLOB_BYTES } from "./routes/blobs.ts";
import { builderApiRoutes } from "./routes/builder-api.ts";
import { builderAdminRoutes } from "./routes/builders.ts";
import { contextRoutes } from "./routes/contexts.ts";
import { continuationRoutes } from "./routes/continuations.ts";
import { envVarRoutes } from "./routes/envvars.ts";
import { eventRoutes } from "./routes/events.ts";
import { hookRoutes } from "./routes/hooks.ts";
import { insightRoutes } from "./routes/insights.ts";
import { logRoutes } from "./routes/logs.ts";
import { memberRoutes } from "./routes/members.ts";
import { oidcRoutes } from "./routes/oidc.ts";
import { orbRoutes } from "./routes/orbs.ts";
import { pipelineRoutes } from "./routes/pipelines.ts";
import { projectSettingsRoutes } from "./routes/project-settings.ts";
import { projectRoutes } from "./routes/projects.ts";
import { scheduleRoutes } from "./routes/schedules.ts";
import { sessionRoutes } from "./routes/session.ts";
import { tokenRoutes } from "./routes/tokens.ts";
import { uiRoutes } from "./routes/ui.ts";
import { userRoutes } from "./routes/users.ts";
import { SecretsError } from "./secrets/index.ts";

/** The largest body a runtime adapter must accept: a blob upload (see MAX_BLOB_BYTES). */
export const MAX_REQUEST_BODY_BYTES = MAX_BLOB_BYTES + 1024 * 1024;
/** Every other request body. */
const MAX_BODY_BYTES = 128 * 1024 * 1024;

export function createApp(deps: AppDeps) {
  const app = new Hono<AuthEnv>();
  app.use("*", cairnSecureHeaders({ tls: deps.tls }));
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) =>
      c.json(errorBody("too_large", `a request body may be at most ${MAX_BODY_BYTES} bytes`), 413),
  });
  // Blob uploads are limited (and streamed) by their own route, routes/blobs.ts.
  app.use("*", (c, next) => (c.req.path.startsWith("/api/v1/builder/blobs/") ? next() : limit(c, next)));

  app.onError((err, c) => {
    if (err instanceof Busy) c.header("retry-after", String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
    if (err instanceof ApiError) return c.json(errorBody(err.code, err.message, err.details), err.status);
    // Secrets errors name rows and keys by id, never a value: safe to show as they are.
    if (err instanceof SecretsError)
      return c.json(errorBody(err.code, err.message, err.details), err.status as 500);
    if (err instanceof HTTPException) return c.json(errorBody("http_error", err.message), err.status);
    console.error("unhandled error:", err);
    return c.json(errorBody("internal", "internal server error"), 500);
  });
  app.notFound((c) => c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`), 404));

  app.get("/api/v1/health", (c) => c.json({ status: "ok", version: deps.version, tls: deps.tls }));
  // The API's description and reference page: public, like the API's shape itself.
  app.route("/api/v1", openApiRoutes(deps));

  // A blob URL is its own capability (one key, one method, expiring): before the builder API's checks.
  app.route("/api/v1", blobCapabilityRoutes(deps));
  // Builders authenticate with their own tokens (protocol/index.ts).
  app.route("/api/v1", builderApiRoutes(deps));
  app.route("/api/v1", builderBlobRoutes(deps));
  // Forge webhooks authenticate by their HMAC signature, not a bearer token (routes/hooks.ts).
  app.route("/api/v1", hookRoutes(deps));
  // Browser sign-in: trades an API token for a session cookie (before userAuth, which it feeds).
  app.route("/api/v1", sessionRoutes(deps));
  app.route("/api/v1", authGithubRoutes(deps, deps.githubOAuth));
  // A setup job's continuation key is the authentication (services/continuations.ts).
  app.route("/api/v2", continuationRoutes(deps));

  const api = new Hono<AuthEnv>();
  api.use("*", userAuth({ db: deps.db }));
  api.route("/", projectRoutes(deps));
  api.route("/", projectSettingsRoutes(deps));
  api.route("/", pipelineRoutes(deps));
  api.route("/", insightRoutes(deps));
  api.route("/", logRoutes(deps));
  api.route("/", artifactRoutes(deps));
  api.route("/", builderAdminRoutes(deps));
  api.route("/", eventRoutes(deps));
  api.route("/", envVarRoutes(deps));
  api.route("/", contextRoutes(deps));
  api.route("/", orbRoutes(deps));
  api.route("/", scheduleRoutes(deps));
  api.route("/", auditRoutes(deps));
  api.route("/", userRoutes(deps));
  api.route("/", tokenRoutes(deps));
  api.route("/", memberRoutes(deps));
  app.route("/api/v1", api);
  // The OIDC issuer's discovery document and JWKS (jobs' identity tokens).
  app.route("/", oidcRoutes(deps));
  // The web UI: /assets/* and index.html for its pages (after the API, which it never shadows).
  app.route("/", uiRoutes());

  return app;
}
