// The server's view of project repositories: a bare mirror per project under <data>/repos,
// fetched on demand, from which pipelines resolve refs and read their config at a commit.
// Uses the git CLI through node:child_process (available on Bun, Node and Deno).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

export interface SourcePort {
  /** Resolves a branch name or a commit sha to a full commit sha; null when it does not exist. */
  resolve(project: { id: string; repoUrl: string }, ref: { branch?: string; sha?: string }): Promise<string | null>;
  /** Reads a file at a commit; null when the file does not exist there. */
  readFile(project: { id: string; repoUrl: string }, sha: string, path: string): Promise<string | null>;
}

export class GitError extends Error {
  readonly code = "git_failed";
}

function git(args: string[], opts: { cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "git",
      // ext:: would let a repo URL run commands on the server.
      ["-c", "protocol.ext.allow=never", ...args],
      {
        cwd: opts.cwd,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_SSH_COMMAND: "ssh -o BatchMode=yes" },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export function createGitMirror(reposDir: string): SourcePort {
  const syncing = new Map<string, Promise<string>>();

  /** Clones or fetches the project's mirror; concurrent callers share one fetch. */
  function sync(project: { id: string; repoUrl: string }): Promise<string> {
    const running = syncing.get(project.id);
    if (running) return running;
    const work = (async () => {
      const dir = join(reposDir, `${project.id}.git`);
      if (!existsSync(dir)) {
        await mkdir(reposDir, { recursive: true });
        const r = await git(["clone", "--mirror", "--quiet", "--", project.repoUrl, dir]);
        if (r.code !== 0) throw new GitError(`cannot clone ${project.repoUrl}: ${r.stderr.trim()}`);
      } else {
        const r = await git(["fetch", "--prune", "--quiet", "origin"], { cwd: dir });
        if (r.code !== 0) throw new GitError(`cannot fetch ${project.repoUrl}: ${r.stderr.trim()}`);
      }
      return dir;
    })().finally(() => syncing.delete(project.id));
    syncing.set(project.id, work);
    return work;
  }

  return {
    async resolve(project, ref) {
      const dir = await sync(project);
      const rev = ref.sha ? `${ref.sha}^{commit}` : `refs/heads/${ref.branch}^{commit}`;
      const r = await git(["rev-parse", "--verify", "--quiet", "--end-of-options", rev], { cwd: dir });
      return r.code === 0 ? r.stdout.trim() : null;
    },
    async readFile(project, sha, path) {
      const dir = join(reposDir, `${project.id}.git`);
      const r = await git(["show", "--end-of-options", `${sha}:${path}`], { cwd: dir });
      return r.code === 0 ? r.stdout : null;
    },
  };
}
