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
  ) {
    super(message);
  }
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
