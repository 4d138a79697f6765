// Browser sign-in: POST /api/v1/session trades an API token, or a login and password, for a session
// cookie (the web UI's /login page; the first admin's token is in <data>/initial-admin-token); GET
// returns the signed-in user and the CSRF value again after a reload; DELETE signs out.
// Password failures are limited per client IP and login (services/passwords.ts SignInLimiter).
import { eq } from "drizzle-orm";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { users } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError, BadRequest, Unauthorized } from "../errors.ts";
import { sourceIp } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import {
  checkCsrf,
  clearSessionCookie,
  createSession,
  csrfFor,
  deleteSession,
  sessionFromCookie,
  setSessionCookie,
  userForApiToken,
} from "../middleware/session/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { audit } from "../services/audit.ts";
import { iso } from "../services/ids.ts";
import {
  type PasswordHasher,
  requireHasher,
  runtimeHasher,
  SignInLimiter,
  verifyNobody,
} from "../services/passwords.ts";

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

  /** The user a login and password name, or 401; 429 after too many failures from this IP for this login. */
  const passwordUser = async (c: Context, login: string, password: string) => {
    const h = requireHasher(hasher);
    const ip = sourceIp(deps, c);
    const key = `${ip ?? "?"}\n${login.toLowerCase()}`;
    const wait = limiter.retryAfter(key);
    if (wait > 0) {
      c.header("Retry-After", String(wait));
      throw new ApiError(429, "too_many_attempts", `too many failed sign-ins: try again in ${wait} s`, {
        retry_after: wait,
      });
    }
    const user = await db.query.users.findFirst({ where: eq(users.login, login) });
    let ok = false;
    if (user?.passwordHash) ok = await h.verify(password, user.passwordHash);
    else await verifyNobody(h, password);
    if (!user || !ok) {
      limiter.fail(key);
      await audit(db, {
        actor: { type: "user", id: user?.id ?? null },
        action: "session.sign_in_failed",
        ip,
        details: { method: "password", login },
      });
      throw new Unauthorized("the login or password is wrong");
    }
    limiter.succeed(key);
    return user;
  };

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
    let user: Awaited<ReturnType<typeof passwordUser>>;
    // A password (or GitHub) session holds the user's whole role; a token's session only its scopes.
    let scopes = ["admin"];
    let tokenId: string | null = null;
    if ("login" in body) {
      user = await passwordUser(c, body.login, body.password);
    } else {
      const token = body.token.trim();
      const found = await userForApiToken(db, token);
      if (!found) {
        await audit(db, {
          actor: { type: "user", id: null },
          action: "session.sign_in_failed",
          ip: sourceIp(deps, c),
          details: { method: "token" },
        });
        throw new Unauthorized("the API token is not valid (unknown, revoked or expired)");
      }
      user = found.user;
      scopes = found.scopes;
      tokenId = found.tokenId;
    }
    await audit(db, {
      actor: { type: "user", id: user.id },
      action: "session.signed_in",
      target: { type: "user", id: user.id },
      ip: sourceIp(deps, c),
      details: { method: "login" in body ? "password" : "token", login: user.login },
    });
    const session = await createSession(db, user.id, Date.now(), scopes, tokenId);
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
