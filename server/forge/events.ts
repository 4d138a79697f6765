// What a webhook delivery asks for, decided from its event name and payload alone: a pipeline for a
// branch, tag or pull request head, a ping, or nothing (with the reason, which the response shows).
// GitHub's payloads (push, pull_request, ping) and Cairn's generic one ({ref, after|sha, deleted}).

export interface PullRequestInfo {
  number: number;
  url: string | null;
  head_ref: string;
  head_repo: string | null;
  base_ref: string;
  base_repo: string | null;
  title: string | null;
  /** Its head is in another repository (a fork, or a deleted one): someone else's code. */
  fork?: boolean;
  /** Who opened it (CIRCLE_PR_USERNAME on fork builds). */
  user?: string | null;
}

/**
 * A pull request whose head is not in the base repository. GitHub's `head.repo` is null when the
 * fork was deleted; `head.repo.fork` alone is no test (a fork's PR into itself has it too).
 */
export function isFork(head: { full_name?: string } | null | undefined, baseRepo: string | null): boolean {
  return !head?.full_name || head.full_name !== baseRepo;
}

export type HookDecision =
  | { kind: "ping"; zen?: string }
  | { kind: "ignore"; reason: string }
  | {
      kind: "build";
      sha: string;
      branch?: string;
      tag?: string;
      pull_request?: PullRequestInfo;
      /** Head commit message, for `[ci skip]`. */
      message?: string;
    };

const ZERO_SHA = /^0+$/;
const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/i;
const SKIP = /\[(ci skip|skip ci)\]/i;
const PR_ACTIONS = ["opened", "synchronize", "reopened"];

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
const s = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** `refs/heads/x` → branch x, `refs/tags/v1` → tag v1; anything else is not built. */
export function parseRef(ref: string): { branch: string } | { tag: string } | null {
  if (ref.startsWith("refs/heads/") && ref.length > 11) return { branch: ref.slice(11) };
  if (ref.startsWith("refs/tags/") && ref.length > 10) return { tag: ref.slice(10) };
  return null;
}

export function skipRequested(message: string | undefined): boolean {
  return message !== undefined && SKIP.test(message);
}

function refPush(
  ref: string | undefined,
  sha: string | undefined,
  deleted: boolean,
  message?: string,
): HookDecision {
  if (!ref) return { kind: "ignore", reason: "the payload has no ref" };
  if (deleted || (sha !== undefined && ZERO_SHA.test(sha)))
    return { kind: "ignore", reason: `${ref} was deleted` };
  const parsed = parseRef(ref);
  if (!parsed) return { kind: "ignore", reason: `${ref} is neither a branch nor a tag` };
  if (!sha || !SHA.test(sha)) return { kind: "ignore", reason: "the payload has no commit sha" };
  return { kind: "build", sha: sha.toLowerCase(), ...parsed, message };
}

export function decideGithub(event: string, payload: unknown): HookDecision {
  const p = obj(payload) ?? {};
  switch (event) {
    case "ping":
      return { kind: "ping", zen: s(p.zen) };
    case "push": {
      const head = obj(p.head_commit);
      return refPush(s(p.ref), s(p.after), p.deleted === true, s(head?.message));
    }
    case "pull_request": {
      const action = s(p.action) ?? "";
      if (!PR_ACTIONS.includes(action))
        return { kind: "ignore", reason: `pull_request ${action || "(no action)"} is not built` };
      const pr = obj(p.pull_request);
      const head = obj(pr?.head);
      const base = obj(pr?.base);
      const sha = s(head?.sha);
      const headRef = s(head?.ref);
      if (!pr || !sha || !SHA.test(sha) || !headRef)
        return { kind: "ignore", reason: "the pull request has no head sha or ref" };
      const number = typeof pr.number === "number" ? pr.number : typeof p.number === "number" ? p.number : 0;
      const headRepo = obj(head?.repo);
      const baseRepo = s(obj(base?.repo)?.full_name) ?? null;
      const fork = isFork({ full_name: s(headRepo?.full_name) }, baseRepo);
      return {
        kind: "build",
        sha: sha.toLowerCase(),
        // As CircleCI names a fork's PR: its head branch is in another repository, not this one.
        branch: fork ? `pull/${number}` : headRef,
        pull_request: {
          number,
          url: s(pr.html_url) ?? null,
          head_ref: headRef,
          head_repo: s(headRepo?.full_name) ?? null,
          base_ref: s(base?.ref) ?? "",
          base_repo: baseRepo,
          title: s(pr.title) ?? null,
          fork,
          user: s(obj(pr.user)?.login) ?? null,
        },
      };
    }
    default:
      return { kind: "ignore", reason: `${event || "an unnamed"} event is not built` };
  }
}

/** Cairn's generic webhook for any git host: `{ref, after | sha, before?, deleted?, message?}`. */
export function decideGeneric(payload: unknown): HookDecision {
  const p = obj(payload);
  if (!p) return { kind: "ignore", reason: "the payload is not a JSON object" };
  return refPush(s(p.ref), s(p.after) ?? s(p.sha), p.deleted === true, s(p.message));
}

/**
 * CircleCI's pull request variables for a pipeline's stored metadata (none for other pipelines).
 * CIRCLE_PR_REPONAME and CIRCLE_PR_USERNAME exist only on fork builds, as CircleCI sets them.
 */
export function pullRequestEnvironment(metadata: string | null): Record<string, string> {
  const pr = metadata ? (JSON.parse(metadata) as { pull_request?: PullRequestInfo }).pull_request : undefined;
  if (!pr) return {};
  return {
    CIRCLE_PR_NUMBER: String(pr.number),
    CIRCLE_PULL_REQUEST: pr.url ?? "",
    CIRCLE_PULL_REQUESTS: pr.url ?? "",
    CAIRN_PR_BASE_BRANCH: pr.base_ref,
    ...(pr.fork
      ? {
          CIRCLE_PR_REPONAME: pr.head_repo?.split("/")[1] ?? "",
          CIRCLE_PR_USERNAME: pr.user ?? pr.head_repo?.split("/")[0] ?? "",
        }
      : {}),
  };
}
