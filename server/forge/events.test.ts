// Every GitHub payload in the shared corpus, decided: what gets built and what is ignored, and why.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decideGeneric, decideGithub, parseRef, skipRequested } from "./events.ts";

const CORPUS = join(import.meta.dir, "../../../shared/corpus/github-webhooks");
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
