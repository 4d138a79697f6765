// A GitHub (or GitHub Enterprise: `api_url` is `https://ghe.example.com/api/v3`) REST client with a
// token. Web-standard fetch only. One small file per resource (statuses.ts, keys.ts).
import { ForgeError } from "../retryable.ts";

export interface GithubConnection {
  /** API base without a trailing slash, e.g. https://api.github.com. */
  apiUrl: string;
  /** "owner/name". */
  repo: string;
  token: string;
}

export const DEFAULT_GITHUB_API = "https://api.github.com";

export async function githubRequest<T>(
  conn: GithubConnection,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 15_000,
): Promise<T> {
  const url = `${conn.apiUrl.replace(/\/+$/, "")}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        accept: "application/vnd.github+json",
        authorization: `Bearer ${conn.token}`,
        "x-github-api-version": "2022-11-28",
        "user-agent": "cairn-ci",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new ForgeError(`${method} ${url}: ${(err as Error).message}`, 0);
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {}
    throw new ForgeError(`${method} ${url}: ${res.status} ${message}`, res.status);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

export const repoPath = (conn: GithubConnection) => {
  const [owner, name] = conn.repo.split("/");
  return `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`;
};
