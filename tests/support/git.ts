// Real git repositories for tests: a bare repo with commits made from a scratch work tree.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "Cairn Test",
      GIT_AUTHOR_EMAIL: "test@cairn.invalid",
      GIT_COMMITTER_NAME: "Cairn Test",
      GIT_COMMITTER_EMAIL: "test@cairn.invalid",
    },
  }).trim();

export interface TestRepo {
  /** Path of the bare repository (usable as a project's repo_url). */
  bare: string;
  /** Removes the bare repository and its work tree (a test's cleanup; again is a no-op). */
  remove(): void;
  /** Commits `files` (null deletes one) on `branch` (created from the current one if new) and pushes; returns the sha. */
  commit(files: Record<string, string | null>, message?: string, branch?: string): string;
}

export function createRepo(): TestRepo {
  const root = mkdtempSync(join(tmpdir(), "cairn-repo-"));
  const bare = join(root, "origin.git");
  const work = join(root, "work");
  git(root, "init", "--quiet", "--bare", "--initial-branch=main", bare);
  git(root, "clone", "--quiet", bare, work);
  return {
    bare,
    remove() {
      rmSync(root, { recursive: true, force: true });
    },
    commit(files, message = "change", branch = "main") {
      try {
        git(work, "checkout", "--quiet", branch);
      } catch {
        git(work, "checkout", "--quiet", "-b", branch);
      }
      for (const [path, text] of Object.entries(files)) {
        if (text === null) {
          rmSync(join(work, path), { force: true });
          continue;
        }
        mkdirSync(dirname(join(work, path)), { recursive: true });
        writeFileSync(join(work, path), text);
      }
      git(work, "add", "-A");
      git(work, "commit", "--quiet", "--allow-empty", "-m", message);
      git(work, "push", "--quiet", "origin", branch);
      return git(work, "rev-parse", "HEAD");
    },
  };
}
