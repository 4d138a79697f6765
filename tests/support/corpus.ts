// Where ../shared is: the real configs, orb sources, webhook payloads and terminal logs written
// outside this project (read only). Beside the clone, as in the workplace; a clone elsewhere (a
// fresh one in /tmp, as the README's check makes) finds it through CAIRN_SHARED_DIR or at the
// workplace's /work/shared.
import { existsSync } from "node:fs";
import { join } from "node:path";

const beside = join(import.meta.dir, "../../../shared");

export const SHARED_DIR =
  [process.env.CAIRN_SHARED_DIR, beside, "/work/shared"].find((d) => d && existsSync(d)) ?? beside;

/** A path under ../shared/corpus. */
export const corpusPath = (...parts: string[]): string => join(SHARED_DIR, "corpus", ...parts);
