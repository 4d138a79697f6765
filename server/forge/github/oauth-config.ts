// The GitHub / GHE OAuth app this server signs people in with (routes/auth-github.ts).

export interface GithubOAuthConfig {
  clientId: string;
  clientSecret: string;
  /** The web base: https://github.com or a GHE host. */
  url: string;
  /** The REST API base: https://api.github.com, or <url>/api/v3 on GHE. */
  apiUrl: string;
}

/** CAIRN_GITHUB_CLIENT_ID / _CLIENT_SECRET / _URL / _API_URL; undefined when sign-in is not configured. */
export function githubOAuthFromEnv(env: Record<string, string | undefined>): GithubOAuthConfig | undefined {
  const clientId = env.CAIRN_GITHUB_CLIENT_ID;
  const clientSecret = env.CAIRN_GITHUB_CLIENT_SECRET;
  if (!clientId || !clientSecret) return undefined;
  const url = (env.CAIRN_GITHUB_URL || "https://github.com").replace(/\/+$/, "");
  const apiUrl = (
    env.CAIRN_GITHUB_API_URL || (url === "https://github.com" ? "https://api.github.com" : `${url}/api/v3`)
  ).replace(/\/+$/, "");
  return { clientId, clientSecret, url, apiUrl };
}
