// What a job built from a fork's pull request is given. Its code is someone else's: by default it
// gets none of the project's secrets — no env vars, no contexts, no OIDC tokens, no deploy key — as
// CircleCI builds forks. A project admin may pass them (CircleCI's "Pass secrets to builds from
// forked pull requests"); restricted contexts are refused to a fork even then (context-restrictions.ts).

/** `withheld` (the default) or `passed` (the project opted in); null: not a fork's pipeline. */
export type ForkSecrets = "withheld" | "passed";

export function forkSecrets(
  pipeline: { fromFork: boolean },
  project: { passSecretsToForks: boolean },
): ForkSecrets | null {
  if (!pipeline.fromFork) return null;
  return project.passSecretsToForks ? "passed" : "withheld";
}

/**
 * Where a fork build without the deploy key clones from: an SSH URL becomes the host's public HTTPS
 * one, so git on the fleet host never reaches for whatever SSH keys that host holds itself.
 */
export function publicCheckoutUrl(repoUrl: string): string {
  const ssh = /^(?:git\+)?ssh:\/\/(?:[^@/]+@)?([^/:]+)(?::\d+)?\/(.+)$/.exec(repoUrl);
  if (ssh) return `https://${ssh[1]}/${ssh[2]}`;
  const scp = /^[\w.-]+@([\w.-]+):(?!\/\/)(.+)$/.exec(repoUrl);
  if (scp) return `https://${scp[1]}/${scp[2].replace(/^\/+/, "")}`;
  return repoUrl;
}
