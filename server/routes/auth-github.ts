// GitHub / GitHub Enterprise sign-in, the OAuth authorization-code flow: /auth/github redirects to the
// forge with a random `state` (also kept in a short-lived httpOnly cookie); the callback checks it,
// trades the code for a token, asks the API who this is, and signs in the Cairn user linked to that
// GitHub login (users.github_login, set by an admin) — nobody is created on the fly.
import { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppDeps } from "../deps.ts";
import { ApiError, BadRequest, Forbidden, Unauthorized } from "../errors.ts";
import type { GithubOAuthConfig } from "../forge/github/oauth-config.ts";
import { publicBase, sourceIp } from "../http/request.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { setSessionCookie } from "../middleware/session/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { newToken, tokensEqual } from "../secrets/index.ts";
import { runtimeHasher } from "../services/passwords.ts";
import { signIn, signInFailed } from "../services/sessions.ts";
import { anyoneHasPassword, userByGithubLogin } from "../services/users.ts";

const STATE_COOKIE = "cairn_oauth_state";

/** Why a sign-in was refused, as the sign-in page explains it (`/login?github_error=`): never free text. */
export type GithubRefusal = "denied" | "state" | "code" | "unavailable" | "not_linked";
const STATE_TTL_S = 600;
const CALLBACK = "/api/v1/auth/github/callback";

export const authGithubRoutes = (deps: AppDeps, config: GithubOAuthConfig | undefined) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  const configured = () => {
    if (!config)
      throw new ApiError(
        404,
        "github_sign_in_not_configured",
        "GitHub sign-in is not configured on this server",
      );
    return config;
  };

  // Public, so the sign-in page knows whether to offer the GitHub button.
  app.get("/auth/methods", async (c) => {
    // Until someone has a password, the only way in is the first admin's token: offer it first.
    return c.json({
      password: runtimeHasher() !== null,
      token: true,
      token_first: !(await anyoneHasPassword(db)),
      github: config ? { url: config.url } : null,
    });
  });

  app.get("/auth/github", (c) => {
    const gh = configured();
    const state = newToken("cairn_ses").slice("cairn_ses_".length);
    // Lax, not Strict: the callback is a top-level navigation coming back from the forge's site.
    setCookie(c, STATE_COOKIE, state, {
      httpOnly: true,
      sameSite: "Lax",
      secure: deps.tls,
      path: CALLBACK,
      maxAge: STATE_TTL_S,
    });
    const q = new URLSearchParams({
      client_id: gh.clientId,
      redirect_uri: `${publicBase(deps, c)}${CALLBACK}`,
      state,
      scope: "read:user",
      allow_signup: "false",
    });
    return c.redirect(`${gh.url}/login/oauth/authorize?${q}`, 302);
  });

  app.get("/auth/github/callback", validate(ops.finishGithubSignIn), async (c) => {
    // A browser goes back to the sign-in page, which says what went wrong; API clients get the error.
    const reasons = new WeakMap<ApiError, GithubRefusal>();
    const refuse = (reason: GithubRefusal, err: ApiError) => {
      reasons.set(err, reason);
      return err;
    };
    const finish = async () => {
      const gh = configured();
      const { code, state, error } = c.req.valid("query");
      const expected = getCookie(c, STATE_COOKIE);
      deleteCookie(c, STATE_COOKIE, { path: CALLBACK, secure: deps.tls, httpOnly: true, sameSite: "Lax" });
      if (error) throw refuse("denied", new Unauthorized(`GitHub refused the sign-in: ${error}`));
      if (!code || !state)
        throw refuse("code", new BadRequest("`code` and `state` are required", undefined, "invalid_query"));
      if (!expected || !tokensEqual(state, expected)) {
        throw refuse(
          "state",
          new Forbidden(
            "the sign-in's state does not match this browser's: start again from the sign-in page",
          ),
        );
      }
      const fail = (reason: string, login?: string) =>
        signInFailed(db, sourceIp(deps, c), null, {
          method: "github",
          reason,
          ...(login ? { github_login: login } : {}),
        });
      const tokenRes = await fetch(`${gh.url}/login/oauth/access_token`, {
        method: "POST",
        headers: { accept: "application/json", "content-type": "application/json" },
        body: JSON.stringify({
          client_id: gh.clientId,
          client_secret: gh.clientSecret,
          code,
          redirect_uri: `${publicBase(deps, c)}${CALLBACK}`,
        }),
      });
      const tokenBody = (await tokenRes.json().catch(() => ({}))) as {
        access_token?: string;
        error?: string;
      };
      if (!tokenRes.ok || !tokenBody.access_token) {
        await fail("code_exchange");
        // The forge's error code only (e.g. bad_verification_code): never the request, which holds the secret.
        throw refuse(
          "code",
          new Unauthorized(`GitHub did not accept the sign-in code (${tokenBody.error ?? tokenRes.status})`),
        );
      }
      const userRes = await fetch(`${gh.apiUrl}/user`, {
        headers: {
          authorization: `Bearer ${tokenBody.access_token}`,
          accept: "application/vnd.github+json",
          "user-agent": "cairn-ci",
        },
      });
      const ghUser = (await userRes.json().catch(() => ({}))) as { login?: string };
      if (!userRes.ok || typeof ghUser.login !== "string") {
        await fail("user_lookup");
        throw refuse(
          "unavailable",
          new ApiError(
            502,
            "github_unavailable",
            `GitHub's API did not say who signed in (${userRes.status})`,
          ),
        );
      }
      const user = await userByGithubLogin(db, ghUser.login);
      if (!user) {
        await fail("not_linked", ghUser.login);
        throw refuse(
          "not_linked",
          new Forbidden(`no Cairn user is linked to the GitHub login ${ghUser.login}: ask an administrator`),
        );
      }
      const session = await signIn(db, user, {
        method: "github",
        ip: sourceIp(deps, c),
        details: { github_login: ghUser.login },
      });
      setSessionCookie(c, session, deps.tls);
      // The UI reads the CSRF value from GET /api/v1/session.
      return c.redirect("/", 302);
    };
    try {
      return await finish();
    } catch (err) {
      const reason = err instanceof ApiError ? reasons.get(err) : undefined;
      if (reason && (c.req.header("accept") ?? "").includes("text/html"))
        return c.redirect(`/login?github_error=${reason}`, 302);
      throw err;
    }
  });

  return app;
};
