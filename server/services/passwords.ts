// Password hashing behind a small port: argon2id through Bun.password where the server runs on Bun;
// on Node and Deno password sign-in is refused (501) and tokens still work.
import { ApiError } from "../errors.ts";

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
}

type BunPassword = {
  hash(pw: string, opts: { algorithm: "argon2id" }): Promise<string>;
  verify(pw: string, hash: string): Promise<boolean>;
};

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

/** The runtime's hasher, or null where none is available (password sign-in then answers 501). */
export function runtimeHasher(): PasswordHasher | null {
  const bun = (globalThis as { Bun?: { password?: BunPassword } }).Bun;
  if (!bun?.password) return null;
  const pw = bun.password;
  return {
    hash: (password) => pw.hash(password, { algorithm: "argon2id" }),
    verify: (password, hash) => pw.verify(password, hash),
  };
}

export function requireHasher(hasher: PasswordHasher | null): PasswordHasher {
  if (!hasher) {
    throw new ApiError(
      501,
      "passwords_unavailable",
      "password sign-in needs the Bun runtime (argon2id); sign in with an API token instead",
    );
  }
  return hasher;
}

/** Fixed-cost work for an unknown login, so its answer takes as long as a wrong password. */
let dummyHash: Promise<string> | undefined;
export async function verifyNobody(hasher: PasswordHasher, password: string): Promise<void> {
  dummyHash ??= hasher.hash("cairn-no-such-user-password");
  await hasher.verify(password, await dummyHash);
}

/**
 * Sign-in failures per key (client IP + login) in a sliding window: after `max` failures the key is
 * refused until the oldest failure leaves the window. In memory: a restart forgets, which is fine
 * for slowing down guessing against one server.
 */
export class SignInLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly max = 5,
    readonly windowMs = 15 * 60 * 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until the key may try again, or 0 when it may now. */
  retryAfter(key: string): number {
    const recent = this.recent(key);
    if (recent.length < this.max) return 0;
    return Math.max(1, Math.ceil((recent[0] + this.windowMs - this.now()) / 1000));
  }

  fail(key: string): void {
    const recent = this.recent(key);
    recent.push(this.now());
    this.failures.set(key, recent);
    if (this.failures.size > 100_000) this.failures.delete(this.failures.keys().next().value!);
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string): number[] {
    const cutoff = this.now() - this.windowMs;
    return (this.failures.get(key) ?? []).filter((t) => t > cutoff);
  }
}
