// The host's subordinate ids for root (/etc/subuid, /etc/subgid): where an unprivileged container's
// ids land on the host. Debian's default is 100000; a host prepared by hand may start elsewhere.
import { readFileSync } from "node:fs";

/** Root's first subordinate uid (or gid) with room for a whole container (65536 ids): the container's root. */
export function rootSubidStart(file: "/etc/subuid" | "/etc/subgid"): number {
  const line = readFileSync(file, "utf8")
    .split("\n")
    .find((l) => l.startsWith("root:") && Number(l.split(":")[2]) >= 65536);
  if (!line) throw new Error(`${file} gives root no range of 65536 ids`);
  return Number(line.split(":")[1]);
}
