// Which forge API failures are worth another try: network errors, 429 and 5xx. One place decides.

export class ForgeError extends Error {
  constructor(
    message: string,
    /** HTTP status from the forge; 0 when the request never got an answer. */
    readonly status: number,
  ) {
    super(message);
  }
  readonly code = "forge_failed";
}

export function isRetryable(err: unknown): boolean {
  if (err instanceof ForgeError) return err.status === 0 || err.status === 429 || err.status >= 500;
  return true; // fetch threw: connection refused, reset, DNS
}

export interface RetryPolicy {
  attempts: number;
  /** First wait in ms; doubles each time, with up to 25% jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 500, maxDelayMs: 30_000 };

export async function withRetry<T>(fn: () => Promise<T>, policy: RetryPolicy = DEFAULT_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= policy.attempts || !isRetryable(err)) throw err;
      const delay = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      await new Promise((r) => setTimeout(r, delay * (1 + Math.random() / 4)));
    }
  }
}
