// The shell the image store runs on the fleet host (through its HostTransport, like every lxc-*
// call): resolve a reference, pull it with skopeo into one OCI layout (one blob directory shared
// by every image), unpack it with umoci into a rootfs cached per manifest digest, and make the
// LXC template a job's copy-on-write clone starts from. One flock serialises the store's writers.

import { readFileSync } from "node:fs";

/** Resolve, pull, unpack and template one image (its arguments are documented in the file). */
export const PREPARE = readFileSync(new URL("./prepare.sh", import.meta.url), "utf8");

/** Evict least recently used images beyond the budget, never one in use. */
export const COLLECT = readFileSync(new URL("./collect.sh", import.meta.url), "utf8");

/** Build the default image from Debian's packages with mmdebstrap and import it as a local image. */
export const BUILD_DEFAULT = readFileSync(new URL("./build-default.sh", import.meta.url), "utf8");
