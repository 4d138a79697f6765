// Which failures of a call to the server are worth retrying: the one place that decides.
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Network-level failures (refused, reset, DNS, TLS handshake cut short) are retried; programming errors are not. */
export function isRetryableError(err: unknown): boolean {
  if (err instanceof ApiCallError) return isRetryableStatus(err.status);
  return (
    err instanceof TypeError ||
    (err instanceof Error && /ECONN|EPIPE|ETIMEDOUT|socket|network|fetch/i.test(err.message))
  );
}

export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
    /** How long the server asked us to wait (429/503: details.retry_after_ms, else Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The wait a refusal asks for: the body's `details.retry_after_ms`, else the Retry-After seconds. */
export function retryAfterMs(header: string | null, body: unknown): number | undefined {
  const ms = (body as { error?: { details?: { retry_after_ms?: unknown } } } | null)?.error?.details
    ?.retry_after_ms;
  if (typeof ms === "number" && Number.isFinite(ms) && ms >= 0) return Math.min(ms, 60_000);
  if (header && /^\d{1,4}$/.test(header.trim())) return Math.min(Number(header) * 1000, 60_000);
  return undefined;
}

/**
 * The wait before attempt `attempt + 1`: what the server asked for (with jitter, so refused
 * builders do not return together), else exponential backoff.
 */
export function retryDelay(err: unknown, attempt: number): number {
  if (err instanceof ApiCallError && err.retryAfterMs !== undefined)
    return err.retryAfterMs * (1 + Math.random() * 0.25);
  return backoff(attempt);
}

/** Exponential backoff with jitter, capped. */
export function backoff(attempt: number, baseMs = 250, capMs = 10_000): number {
  const exp = Math.min(capMs, baseMs * 2 ** attempt);
  return exp / 2 + Math.random() * (exp / 2);
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
