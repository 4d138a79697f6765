// The server's view of project repositories: a bare mirror per project under <data>/repos,
// fetched on demand, from which pipelines resolve refs and read their config at a commit.
// Uses the git CLI through node:child_process (available on Bun, Node and Deno).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gitSshCommand, isSshUrl } from "./deploy-keys.ts";

export interface SourcePort {
  /** Resolves a branch name or a commit sha to a full commit sha; null when it does not exist. */
  resolve(
    project: { id: string; repoUrl: string },
    ref: { branch?: string; sha?: string; tag?: string },
  ): Promise<string | null>;
  /** Reads a file at a commit; null when the file does not exist there; FileTooLarge past `maxBytes`. */
  readFile(
    project: { id: string; repoUrl: string },
    sha: string,
    path: string,
    maxBytes?: number,
  ): Promise<string | null>;
}

export class GitError extends Error {
  readonly code = "git_failed";
}

export class FileTooLarge extends Error {
  constructor(
    readonly path: string,
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(`${path} is ${size} bytes: more than the ${maxBytes} allowed`);
  }
}

/** A repository on the server's own disk: git's complaints about it would tell what exists there. */
const isLocal = (url: string) => url.startsWith("/") || url.startsWith("file:");

/** What a failed clone or fetch says: git's own words, except for a local path (only that it failed). */
function cannotRead(verb: string, repoUrl: string, stderr: string): GitError {
  if (isLocal(repoUrl)) return new GitError("cannot read the repository");
  return new GitError(`cannot ${verb} ${repoUrl}: ${stderr.trim()}`);
}

/** What readFile reads at most (git's output buffer is sized for it). */
const MAX_READ_BYTES = 8 * 1024 * 1024;

/** A project's deploy key and pinned host keys, for fetching over SSH. */
export interface MirrorCredentials {
  privateKey: string;
  knownHosts: string | null;
}

function git(
  args: string[],
  opts: { cwd?: string; sshCommand?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "git",
      // ext:: would let a repo URL run commands on the server.
      ["-c", "protocol.ext.allow=never", ...args],
      {
        cwd: opts.cwd,
        maxBuffer: 2 * MAX_READ_BYTES,
        env: {
          ...process.env,
          GIT_TERMINAL_PROMPT: "0",
          GIT_SSH_COMMAND: opts.sshCommand ?? "ssh -o BatchMode=yes",
        },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/**
 * `credentials` gives a project's deploy key (null: none). With one, fetches use only that key and the
 * project's pinned host keys, from a 0700 temp dir under `<reposDir>/.keys` removed right after.
 */
export function createGitMirror(
  reposDir: string,
  credentials?: (projectId: string) => Promise<MirrorCredentials | null>,
): SourcePort {
  const syncing = new Map<string, Promise<string>>();

  async function withSsh<T>(
    project: { id: string; repoUrl: string },
    fn: (sshCommand?: string) => Promise<T>,
  ): Promise<T> {
    const creds = isSshUrl(project.repoUrl) ? await credentials?.(project.id) : null;
    if (!creds) return fn();
    if (!creds.knownHosts?.trim()) {
      throw new GitError(
        `${project.repoUrl} is fetched over SSH with the project's deploy key: set the project's known_hosts (the host keys to pin) first`,
      );
    }
    const keysDir = join(reposDir, ".keys");
    await mkdir(keysDir, { recursive: true, mode: 0o700 });
    const dir = await mkdtemp(join(keysDir, "k-"));
    try {
      await chmod(dir, 0o700);
      const key = join(dir, "id");
      const hosts = join(dir, "known_hosts");
      await writeFile(key, creds.privateKey, { mode: 0o600 });
      await writeFile(hosts, `${creds.knownHosts.trim()}\n`, { mode: 0o600 });
      return await fn(gitSshCommand(key, hosts));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Clones or fetches the project's mirror; concurrent callers share one fetch. */
  function sync(project: { id: string; repoUrl: string }): Promise<string> {
    const running = syncing.get(project.id);
    if (running) return running;
    const work = (async () => {
      const dir = join(reposDir, `${project.id}.git`);
      if (!existsSync(dir)) {
        await mkdir(reposDir, { recursive: true });
        const r = await withSsh(project, (sshCommand) =>
          git(["clone", "--mirror", "--quiet", "--", project.repoUrl, dir], { sshCommand }),
        );
        if (r.code !== 0) throw cannotRead("clone", project.repoUrl, r.stderr);
      } else {
        const r = await withSsh(project, (sshCommand) =>
          git(["fetch", "--prune", "--quiet", "origin"], { cwd: dir, sshCommand }),
        );
        if (r.code !== 0) throw cannotRead("fetch", project.repoUrl, r.stderr);
      }
      return dir;
    })().finally(() => syncing.delete(project.id));
    syncing.set(project.id, work);
    return work;
  }

  return {
    async resolve(project, ref) {
      const dir = await sync(project);
      const rev = ref.sha
        ? `${ref.sha}^{commit}`
        : ref.tag
          ? `refs/tags/${ref.tag}^{commit}`
          : `refs/heads/${ref.branch}^{commit}`;
      const r = await git(["rev-parse", "--verify", "--quiet", "--end-of-options", rev], { cwd: dir });
      return r.code === 0 ? r.stdout.trim() : null;
    },
    async readFile(project, sha, path, maxBytes) {
      const dir = join(reposDir, `${project.id}.git`);
      // The size first: a file past the limit is named as such, never read (nor mistaken for a missing one).
      const size = await git(["cat-file", "-s", "--end-of-options", `${sha}:${path}`], { cwd: dir });
      if (size.code !== 0) return null;
      const bytes = Number(size.stdout.trim());
      if (bytes > (maxBytes ?? MAX_READ_BYTES))
        throw new FileTooLarge(path, bytes, maxBytes ?? MAX_READ_BYTES);
      const r = await git(["show", "--end-of-options", `${sha}:${path}`], { cwd: dir });
      return r.code === 0 ? r.stdout : null;
    },
  };
}
