// The few lines of POSIX sh that run one step inside a sandbox, shared by both drivers.

/**
 * Run as `sh -c STEP_RUNNER cairn-step WORKDIR [SHELL WORDS...]` with the script on stdin.
 * The script goes to a file (CircleCI's way) so any `shell:` works, from bash to python, and
 * so its text is not in any argv; the step's own stdin is /dev/null; stderr joins stdout so the
 * log keeps the order the step wrote in. `~` in WORKDIR means $HOME.
 */
export const STEP_RUNNER = [
  'f=$(mktemp "${TMPDIR:-/tmp}/cairn-step.XXXXXX") && cat >"$f" || { echo "cairn: cannot stage the step script" >&2; exit 125; }',
  "d=$1; shift",
  'case $d in "~") d=$HOME ;; "~/"*) d=$HOME/${d#"~/"} ;; esac',
  // $BASH_ENV exists before the first step, so `echo … >> "$BASH_ENV"` works; bash sources it
  // before running each step's script (non-interactive bash reads $BASH_ENV), as on CircleCI.
  'if [ -n "${BASH_ENV:-}" ] && [ ! -e "$BASH_ENV" ]; then : >"$BASH_ENV" 2>/dev/null; fi',
  'mkdir -p "$d" && cd "$d" || { echo "cairn: cannot enter working directory $d"; rm -f "$f"; exit 125; }',
  // Cairn's helpers (`cairn tests split`, `circleci tests split`) when the builder installed them.
  'if [ -d "$HOME/.cairn/bin" ]; then PATH=$HOME/.cairn/bin:$PATH; export PATH; fi',
  "if [ $# -eq 0 ]; then if [ -x /bin/bash ]; then set -- /bin/bash -eo pipefail; else set -- /bin/sh -e; fi; fi",
  '"$@" "$f" </dev/null 2>&1',
  "rc=$?",
  'rm -f "$f"',
  "exit $rc",
].join("\n");

/** What Sandbox.capture/feed scripts start with: lxc-attach --clear-env leaves no HOME or PATH. */
export const SANDBOX_SH_PRELUDE =
  ': "${HOME:=/root}"; PATH=${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}; export HOME PATH; cd "$HOME" || exit 125\n';

/** `/bin/bash -eo pipefail` → words; empty means the runner's default (bash if present, else sh). */
export function shellWords(shell: string | undefined): string[] {
  return shell?.trim() ? shell.trim().split(/\s+/) : [];
}

/** Defaults a step sees unless its env says otherwise. */
export function stepEnv(env: Record<string, string>, home: string): Record<string, string> {
  return {
    HOME: home,
    BASH_ENV: `${home}/.bash_env`,
    USER: "root",
    LOGNAME: "root",
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ...env,
  };
}
