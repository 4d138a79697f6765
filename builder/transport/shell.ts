// How argv and environment cross a shell boundary (an ssh exec request, `sh -c`) without being
// reinterpreted and without secrets landing in any process list.

/** Quotes one argument for a POSIX shell: single quotes, with embedded ones spliced in. */
export function shellQuote(arg: string): string {
  if (arg.includes("\0")) throw new Error("a command argument cannot contain a NUL byte");
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** One command line the remote login shell runs as exactly `argv`, no expansion anywhere. */
export function shellCommand(argv: string[]): string {
  if (argv.length === 0) throw new Error("exec needs a command (argv is empty)");
  return argv.map(shellQuote).join(" ");
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Environment names the wrapper can set; anything else is refused before it reaches a host. */
export function assertEnvNames(env: Record<string, string>): void {
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw new Error(`invalid environment variable name ${JSON.stringify(name)}`);
    if (value.includes("\0")) throw new Error(`environment variable ${name} contains a NUL byte`);
  }
}

/**
 * `KEY=VALUE\0...\0\0`: what ENV_WRAPPER reads from stdin. The empty entry ends the block, so
 * whatever stdin follows it reaches the command untouched.
 */
export function envBlock(env: Record<string, string>): Uint8Array {
  assertEnvNames(env);
  let text = "";
  for (const [name, value] of Object.entries(env)) text += `${name}=${value}\0`;
  return new TextEncoder().encode(`${text}\0`);
}

/**
 * Bash, because `read -d ''` consumes stdin one byte at a time from a pipe and so never eats
 * past the block; values travel only through the pipe and the exec'd command's environment.
 * Run as `bash -c ENV_WRAPPER cairn-env ARGV...`.
 */
export const ENV_WRAPPER =
  `while IFS= read -r -d '' kv && [ -n "$kv" ]; do ` +
  `export "$kv" || { echo "cairn-env: cannot set \${kv%%=*}" >&2; exit 125; }; done; exec "$@"`;

/** argv that runs `argv` with the environment block delivered on stdin (see envBlock). */
export function withEnvWrapper(argv: string[]): string[] {
  return ["bash", "-c", ENV_WRAPPER, "cairn-env", ...argv];
}

export { concatBytes } from "../../wasm/bytes.ts";

export function toBytes(data: Uint8Array | string | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return typeof data === "string" ? new TextEncoder().encode(data) : data;
}
