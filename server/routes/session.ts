// Browser sign-in: POST /api/v1/session trades an API token, or a login and password, for a session
// cookie (the web UI's /login page; the first admin's token is in <data>/initial-admin-token); GET
// returns the signed-in user and the CSRF value again after a reload; DELETE signs out.
// Password failures are limited per client IP and login (services/passwords.ts SignInLimiter).
import { Hono, type MiddlewareHandler } from "hono";
import type { AppDeps } from "../deps.ts";
import { BadRequest, Unauthorized } from "../errors.ts";
import { sourceIp } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import {
  checkCsrf,
  clearSessionCookie,
  csrfFor,
  deleteSession,
  sessionFromCookie,
  setSessionCookie,
} from "../middleware/session/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { iso } from "../services/ids.ts";
import { type PasswordHasher, runtimeHasher, SignInLimiter } from "../services/passwords.ts";
import { passwordUser, signIn, TooManyAttempts, tokenUser } from "../services/sessions.ts";
import type { User } from "../services/users.ts";

const presentUser = (u: { id: string; login: string; role: string }) => ({
  id: u.id,
  login: u.login,
  role: u.role,
});

export interface SessionRouteOptions {
  hasher?: PasswordHasher | null;
  limiter?: SignInLimiter;
}

export const sessionRoutes = (deps: AppDeps, options: SessionRouteOptions = {}) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;
  const hasher = options.hasher === undefined ? runtimeHasher() : options.hasher;
  const limiter = options.limiter ?? new SignInLimiter();

  // Only JSON: a cross-site form cannot send it without a CORS preflight, so no page elsewhere can
  // sign a visitor in to an account of its choosing (login CSRF).
  const jsonOnly: MiddlewareHandler = async (c, next) => {
    if (!/^application\/json\b/i.test(c.req.header("content-type") ?? "")) {
      throw new BadRequest(
        "sign in with a JSON body: Content-Type: application/json",
        undefined,
        "unsupported_media_type",
      );
    }
    await next();
  };

  app.post("/session", jsonOnly, validate(ops.createSession), async (c) => {
    const body = c.req.valid("json");
    const ip = sourceIp(deps, c);
    let user: Pick<User, "id" | "login" | "role">;
    // A password (or GitHub) session holds the user's whole role; a token's session only its scopes.
    let scopes = ["admin"];
    let tokenId: string | null = null;
    if ("login" in body) {
      try {
        user = await passwordUser(db, hasher, limiter, body.login, body.password, ip);
      } catch (err) {
        if (err instanceof TooManyAttempts) c.header("Retry-After", String(err.retryAfter));
        throw err;
      }
    } else {
      const found = await tokenUser(db, body.token, ip);
      user = found.user;
      scopes = found.scopes;
      tokenId = found.tokenId;
    }
    const method = "login" in body ? "password" : "token";
    const session = await signIn(db, user, { method, ip, scopes, tokenId });
    setSessionCookie(c, session, deps.tls);
    return c.json(
      { user: presentUser(user), scopes, csrf: session.csrf, expires_at: iso(session.expiresAt) },
      201,
    );
  });

  app.get("/session", async (c) => {
    const s = await sessionFromCookie(c, db);
    if (!s) throw new Unauthorized("not signed in");
    return c.json({
      user: presentUser(s.user),
      scopes: s.scopes,
      csrf: csrfFor(s.sessionId),
      expires_at: iso(s.expiresAt),
    });
  });

  app.delete("/session", async (c) => {
    const s = await sessionFromCookie(c, db);
    if (s) {
      checkCsrf(c, s.sessionId);
      await deleteSession(db, s.sessionId);
      await deps.streams.recheck();
    }
    clearSessionCookie(c, deps.tls);
    return c.body(null, 204);
  });

  return app;
};
