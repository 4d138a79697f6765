// The `cairn` command line: drives Cairn through its REST API only (and checks configs offline).

import { runConfigCli } from "./circleci/cli.ts";
import { artifacts } from "./cli-client/artifacts.ts";
import { CliError } from "./cli-client/client.ts";
import { approve, cancel, env, login, logs, rerun, statusCmd, trigger } from "./cli-client/commands.ts";
import { orb, serverOrbs } from "./cli-client/orbs.ts";

const USAGE = `usage: cairn <command> [--json]

  login --server URL                   save the server and an API token (~/.config/cairn/cli.json, 0600);
                                       the token is read from stdin or a prompt, never the command line
  trigger PROJECT [--branch B] [--sha S] [--param k=v]... [--follow]
  status [PROJECT | PIPELINE]          latest pipelines, or one pipeline's jobs (slice, attempt, on_hold)
  logs JOB [--follow]                  a job's log (or why it failed, when it has none); live with --follow
  approve JOB                          approve a job that is on hold (type: approval)
  cancel JOB
  rerun PIPELINE [--failed]            re-run its workflows, or only what failed
  env set|unset|list PROJECT ...       project environment variables (values are write-only)
  artifacts download JOB [--path P] [--dest DIR]
                                       a job's artifacts (or those under P), streamed into DIR
  config validate|process FILE [--orb-dir DIR]
                                       check or expand a CircleCI config (orbs from the server when
                                       logged in, or packed in DIR/<namespace>/<name>@<X.Y.Z>.yml)
  orb pack SRC_DIR                     an orb source tree (@orb.yml, commands/, jobs/, …) as one orb YAML
  orb publish NAMESPACE/NAME@X.Y.Z FILE  publish a packed orb (admins; versions are immutable)
  orb list | orb info NAMESPACE/NAME[@X.Y.Z]`;

const io = { stdout: (t: string) => process.stdout.write(t), stderr: (t: string) => process.stderr.write(t) };

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  login,
  trigger,
  status: statusCmd,
  approve,
  logs,
  cancel,
  rerun,
  env,
  artifacts,
  config: (argv) => runConfigCli(argv, { ...io, orbs: serverOrbs }),
  orb,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help") {
    io.stdout(`${USAGE}\n`);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    io.stderr(`cairn: unknown command ${name}\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`cairn: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
