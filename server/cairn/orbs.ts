// `cairn orb pack SRC_DIR`: the packed orb YAML on stdout (publish it to a Cairn server with the API).
import { OrbPackError, packOrb } from "../orbs/pack.ts";
import { CliError } from "./client.ts";

const USAGE = "usage: cairn orb pack SRC_DIR";

export async function orb(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "pack" || rest.length !== 1) throw new CliError(USAGE, 2);
  try {
    process.stdout.write(packOrb(rest[0]));
  } catch (err) {
    if (err instanceof OrbPackError || (err as { code?: string }).code === "ENOENT")
      throw new CliError((err as Error).message, 1);
    throw err;
  }
  return 0;
}
