// Every GitHub payload in the shared corpus, decided: what gets built and what is ignored, and why.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { corpusPath } from "../../tests/support/corpus.ts";
import { decideGeneric, decideGithub, parseRef, pullRequestEnvironment, skipRequested } from "./events.ts";

const CORPUS = corpusPath("github-webhooks");
const load = (file: string) => JSON.parse(readFileSync(join(CORPUS, file), "utf8"));

describe("GitHub events from the corpus", () => {
  test("ping", () => {
    expect(decideGithub("ping", load("ping-payload.json")).kind).toBe("ping");
  });
  test("a push creating a branch builds its head", () => {
    expect(decideGithub("push", load("push-with-new-branch.payload.json"))).toEqual({
      kind: "build",
      sha: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
      branch: "master",
      message: "Initial commit",
    });
  });
  test("a push deleting a tag is ignored", () => {
    for (const f of ["push-payload.json", "push-1.payload.json"]) {
      const d = decideGithub("push", load(f));
      expect(d).toEqual({ kind: "ignore", reason: "refs/tags/simple-tag was deleted" });
    }
  });
  test("pull_request opened, synchronize, reopened build the head sha on the head branch", () => {
    for (const action of ["opened", "synchronize", "reopened"]) {
      const d = decideGithub("pull_request", load(`pull_request-${action}.payload.json`));
      expect(d.kind).toBe("build");
      if (d.kind !== "build") continue;
      expect(d.sha).toBe("ec26c3e57ca3a959ca5aad62de7213c562f8c821");
      expect(d.branch).toBe("changes");
      expect(d.pull_request).toMatchObject({
        number: 2,
        head_ref: "changes",
        base_ref: "master",
        head_repo: "Codertocat/Hello-World",
      });
    }
  });
  test("a fork's pull_request builds its head sha as CircleCI names it: branch pull/N, marked fork", () => {
    const p = load("pull_request-opened.payload.json");
    p.pull_request.head.repo.full_name = "mallory/Hello-World";
    p.pull_request.head.repo.fork = true;
    p.pull_request.user.login = "mallory";
    const d = decideGithub("pull_request", p);
    expect(d).toMatchObject({
      kind: "build",
      sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
      branch: "pull/2",
      pull_request: {
        number: 2,
        head_ref: "changes",
        head_repo: "mallory/Hello-World",
        fork: true,
        user: "mallory",
      },
    });
    // A deleted fork leaves head.repo null: still someone else's code.
    p.pull_request.head.repo = null;
    expect(decideGithub("pull_request", p)).toMatchObject({ branch: "pull/2", pull_request: { fork: true } });
    // The corpus PR (head and base in one repository) is no fork, whatever `head.repo.fork` says.
    const same = load("pull_request-opened.payload.json");
    same.pull_request.head.repo.fork = true;
    expect(decideGithub("pull_request", same)).toMatchObject({
      branch: "changes",
      pull_request: { fork: false },
    });
  });
  test("CIRCLE_PR_REPONAME and CIRCLE_PR_USERNAME are set for forks only", () => {
    const pr = {
      number: 3,
      url: "u",
      head_ref: "x",
      head_repo: "mallory/app",
      base_ref: "main",
      base_repo: "acme/app",
      title: null,
    };
    expect(
      pullRequestEnvironment(JSON.stringify({ pull_request: { ...pr, fork: true, user: "mal" } })),
    ).toEqual({
      CIRCLE_PR_NUMBER: "3",
      CIRCLE_PULL_REQUEST: "u",
      CIRCLE_PULL_REQUESTS: "u",
      CAIRN_PR_BASE_BRANCH: "main",
      CIRCLE_PR_REPONAME: "app",
      CIRCLE_PR_USERNAME: "mal",
    });
    expect(
      pullRequestEnvironment(JSON.stringify({ pull_request: { ...pr, fork: false } })),
    ).not.toHaveProperty("CIRCLE_PR_USERNAME");
    expect(pullRequestEnvironment(null)).toEqual({});
  });
  test("pull_request closed, create and delete are not built", () => {
    expect(decideGithub("pull_request", load("pull_request-closed.payload.json"))).toEqual({
      kind: "ignore",
      reason: "pull_request closed is not built",
    });
    expect(decideGithub("create", load("create-payload.json")).kind).toBe("ignore");
    expect(decideGithub("delete", load("delete-payload.json")).kind).toBe("ignore");
  });
});

describe("refs, skips, the generic payload", () => {
  test("parseRef", () => {
    expect(parseRef("refs/heads/feature/x")).toEqual({ branch: "feature/x" });
    expect(parseRef("refs/tags/v1.0")).toEqual({ tag: "v1.0" });
    expect(parseRef("refs/notes/commits")).toBeNull();
    expect(parseRef("refs/heads/")).toBeNull();
  });
  test("[ci skip] and [skip ci], in any case", () => {
    expect(skipRequested("fix typo [ci skip]")).toBe(true);
    expect(skipRequested("docs\n\n[SKIP CI]")).toBe(true);
    expect(skipRequested("skip ci please")).toBe(false);
    expect(skipRequested(undefined)).toBe(false);
  });
  test("generic: after or sha; deleted and zero shas ignored; junk ignored", () => {
    const sha = "a".repeat(40);
    expect(decideGeneric({ ref: "refs/heads/main", after: sha })).toEqual({
      kind: "build",
      sha,
      branch: "main",
      message: undefined,
    });
    expect(decideGeneric({ ref: "refs/tags/v2", sha })).toMatchObject({ kind: "build", tag: "v2" });
    expect(decideGeneric({ ref: "refs/heads/main", after: "0".repeat(40) }).kind).toBe("ignore");
    expect(decideGeneric({ ref: "refs/heads/main", after: sha, deleted: true }).kind).toBe("ignore");
    expect(decideGeneric({ ref: "refs/heads/main", after: "not-a-sha" }).kind).toBe("ignore");
    expect(decideGeneric([1, 2]).kind).toBe("ignore");
  });
});
