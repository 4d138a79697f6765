// What a storage step (caches, artifacts, test results, workspaces) works with.
import type { JobPayload } from "../../protocol/index.ts";
import type { ServerClient } from "../client.ts";
import type { Sandbox, Spool } from "../driver/types.ts";

export interface StepContext {
  client: ServerClient;
  sandbox: Sandbox;
  /** The job's payload, its environment merged with the opened secrets. */
  payload: JobPayload;
  /** The job's working directory inside the sandbox (absolute). */
  workdir: string;
  /** Writes one of Cairn's own lines into the job's log. */
  note(text: string): void;
  /** Aborted on cancel or timeout: ends a transfer in flight. */
  signal?: AbortSignal;
}

const CONTAINER_HOME = "/root";

/** A path from the config as an absolute sandbox path: `~` is `home`, relative is under `base`. */
export function sandboxPath(path: string, base: string, home = CONTAINER_HOME): string {
  const p = path === "~" ? home : path.startsWith("~/") ? `${home}${path.slice(1)}` : path;
  const abs = p.startsWith("/") ? p : `${base.replace(/\/+$/, "")}/${p}`;
  const out: string[] = [];
  for (const part of abs.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}

/** A small spool (a checksum, a file list) read whole, then removed; refuses one past `max` bytes. */
export async function readSpool(spool: Spool, max = 4 * 1024 * 1024): Promise<Uint8Array> {
  try {
    if (spool.size > max) throw new Error(`the output is ${spool.size} bytes, more than the ${max} expected`);
    return new Uint8Array(await new Response(spool.stream()).arrayBuffer());
  } finally {
    await spool.remove();
  }
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}
