// Commit statuses: https://docs.github.com/en/rest/commits/statuses
import { type GithubConnection, githubRequest, repoPath } from "./client.ts";

export type CommitState = "pending" | "success" | "failure" | "error";

export interface CommitStatus {
  state: CommitState;
  target_url: string;
  /** e.g. `cairn/build`: one status per workflow. */
  context: string;
  description: string;
}

export function createStatus(conn: GithubConnection, sha: string, status: CommitStatus): Promise<unknown> {
  return githubRequest(conn, "POST", `${repoPath(conn)}/statuses/${encodeURIComponent(sha)}`, {
    ...status,
    description: status.description.slice(0, 140),
  });
}
