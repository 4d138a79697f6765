// Deploy keys: https://docs.github.com/en/rest/deploy-keys
import { type GithubConnection, githubRequest, repoPath } from "./client.ts";

export async function addDeployKey(conn: GithubConnection, title: string, key: string): Promise<string> {
  const r = await githubRequest<{ id: number | string }>(conn, "POST", `${repoPath(conn)}/keys`, {
    title,
    key,
    read_only: true,
  });
  return String(r.id);
}

export async function removeDeployKey(conn: GithubConnection, id: string): Promise<void> {
  await githubRequest(conn, "DELETE", `${repoPath(conn)}/keys/${encodeURIComponent(id)}`);
}
