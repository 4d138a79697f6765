// server/bootstrap.ts sets process.umask(0o077) for the server's own files. A test that assembles
// the server in-process would leak that umask into everything its process spawns later (sshd, LXC
// scripts, git, other test files in the same `bun test`): assemble through this, which restores it.

export async function keepingUmask<T>(fn: () => Promise<T>): Promise<T> {
  const previous = process.umask();
  try {
    return await fn();
  } finally {
    process.umask(previous);
  }
}
