// Browser sign-in: POST /api/v1/session trades an API token for a session cookie (the web UI's
// /login page; the first admin's token is in <data>/initial-admin-token); GET returns the signed-in
// user and the CSRF value again after a reload; DELETE signs out.
import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { BadRequest, Unauthorized } from "../errors.ts";
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
import { iso } from "../services/ids.ts";
import { readJson, str } from "./body.ts";

const presentUser = (u: { id: string; login: string; role: string }) => ({
  id: u.id,
  login: u.login,
  role: u.role,
});

export const sessionRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  app.post("/session", async (c) => {
    // Only JSON: a cross-site form cannot send it without a CORS preflight, so no page elsewhere can
    // sign a visitor in to an account of its choosing (login CSRF).
    if (!/^application\/json\b/i.test(c.req.header("content-type") ?? "")) {
      throw new BadRequest(
        "sign in with a JSON body: Content-Type: application/json",
        undefined,
        "unsupported_media_type",
      );
    }
    const body = await readJson(c);
    const token = str(body, "token", { required: true, max: 512 })!.trim();
    const found = await userForApiToken(db, token);
    if (!found) throw new Unauthorized("the API token is not valid (unknown, revoked or expired)");
    const session = await createSession(db, found.user.id);
    setSessionCookie(c, session, deps.tls);
    return c.json(
      { user: presentUser(found.user), csrf: session.csrf, expires_at: iso(session.expiresAt) },
      201,
    );
  });

  app.get("/session", async (c) => {
    const s = await sessionFromCookie(c, db);
    if (!s) throw new Unauthorized("not signed in");
    return c.json({ user: presentUser(s.user), csrf: csrfFor(s.sessionId), expires_at: iso(s.expiresAt) });
  });

  app.delete("/session", async (c) => {
    const s = await sessionFromCookie(c, db);
    if (s) {
      checkCsrf(c, s.sessionId);
      await deleteSession(db, s.sessionId);
    }
    clearSessionCookie(c, deps.tls);
    return c.body(null, 204);
  });

  return app;
};
