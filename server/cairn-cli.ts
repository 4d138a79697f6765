// The `cairn` command line. For now: `cairn config validate|process FILE`.
import { runConfigCli } from "./config/cli.ts";

const io = { stdout: (t: string) => process.stdout.write(t), stderr: (t: string) => process.stderr.write(t) };

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "config") return runConfigCli(argv.slice(1), io);
  io.stderr(`unknown command: ${argv[0] ?? "(none)"}\nusage: cairn config validate|process FILE\n`);
  return 2;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
