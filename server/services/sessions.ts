// Signing in: a password (limited per client IP and login), an API token (the session keeps its
// scopes and ends when it is revoked) or a linked GitHub login. Every attempt is audited, failed or not.
import type { Db } from "../db/client.ts";
import { ApiError, Unauthorized } from "../errors.ts";
import { createSession, type NewSession, userForApiToken } from "../middleware/session/index.ts";
import { audit } from "./audit.ts";
import { type PasswordHasher, requireHasher, type SignInLimiter, verifyNobody } from "./passwords.ts";
import { type User, userByLogin } from "./users.ts";

export type SignInMethod = "password" | "token" | "github";

/** Audits a refused sign-in; `details` name the method and why, never a password or a token. */
export async function signInFailed(
  db: Db,
  ip: string | null,
  userId: string | null,
  details: Record<string, unknown>,
) {
  await audit(db, { actor: { type: "user", id: userId }, action: "session.sign_in_failed", ip, details });
}

/** 429 with `retry_after` (seconds) when the limiter holds this client and login back. */
export class TooManyAttempts extends ApiError {
  constructor(readonly retryAfter: number) {
    super(429, "too_many_attempts", `too many failed sign-ins: try again in ${retryAfter} s`, {
      retry_after: retryAfter,
    });
  }
}

/** The user a login and password name, or 401; 429 after too many failures from this IP for this login. */
export async function passwordUser(
  db: Db,
  hasher: PasswordHasher | null,
  limiter: SignInLimiter,
  login: string,
  password: string,
  ip: string | null,
): Promise<User> {
  const h = requireHasher(hasher);
  const key = `${ip ?? "?"}\n${login.toLowerCase()}`;
  const wait = limiter.retryAfter(key);
  if (wait > 0) throw new TooManyAttempts(wait);
  const user = await userByLogin(db, login);
  let ok = false;
  if (user?.passwordHash) ok = await h.verify(password, user.passwordHash);
  else await verifyNobody(h, password);
  if (!user || !ok) {
    limiter.fail(key);
    await signInFailed(db, ip, user?.id ?? null, { method: "password", login });
    throw new Unauthorized("the login or password is wrong");
  }
  limiter.succeed(key);
  return user;
}

/** The user behind a valid API token, with the scopes a session made from it keeps; 401 otherwise. */
export async function tokenUser(db: Db, token: string, ip: string | null) {
  const found = await userForApiToken(db, token.trim());
  if (!found) {
    await signInFailed(db, ip, null, { method: "token" });
    throw new Unauthorized("the API token is not valid (unknown, revoked or expired)");
  }
  return found;
}

/** Opens the session and audits the sign-in, in one transaction. */
export async function signIn(
  db: Db,
  user: Pick<User, "id" | "login">,
  how: {
    method: SignInMethod;
    ip: string | null;
    scopes?: string[];
    tokenId?: string | null;
    details?: Record<string, unknown>;
  },
): Promise<NewSession> {
  return db.transaction(async (tx) => {
    const session = await createSession(tx, user.id, Date.now(), how.scopes, how.tokenId ?? null);
    await audit(tx, {
      actor: { type: "user", id: user.id },
      action: "session.signed_in",
      target: { type: "user", id: user.id },
      ip: how.ip,
      details: { method: how.method, login: user.login, ...how.details },
    });
    return session;
  });
}
