// `--lxc-host` values: one LXC host per flag, `[user@]host[:port],key=FILE,host-key=KEY,slots=N`
// (plus `lxc-path=DIR`, `memory-mb=N`), or `local,slots=N` for the machine the daemon runs on.

import type { HostConfig } from "../identity.ts";
import { parseHostKeyPin } from "../transport/host-key.ts";

export class HostSpecError extends Error {
  readonly code = "bad_host_spec";
}

const OPTIONS = ["key", "host-key", "slots", "lxc-path", "memory-mb"] as const;
type Option = (typeof OPTIONS)[number];

export function parseHostSpec(spec: string): HostConfig {
  const fail = (why: string): never => {
    throw new HostSpecError(`--lxc-host ${JSON.stringify(spec)}: ${why}`);
  };
  const [target, ...pairs] = spec.split(",");
  const opts: Partial<Record<Option, string>> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const name = pair.slice(0, eq) as Option;
    if (eq < 1 || !OPTIONS.includes(name))
      fail(`unknown option ${JSON.stringify(pair)} (${OPTIONS.join(", ")})`);
    if (opts[name] !== undefined) fail(`${name} is given twice`);
    opts[name] = pair.slice(eq + 1);
    if (!opts[name]) fail(`${name} is empty`);
  }
  const slots = integer(opts.slots ?? "1", 1, 256) ?? fail(`slots must be 1 to 256, got ${opts.slots}`);
  const memory =
    opts["memory-mb"] === undefined
      ? undefined
      : (integer(opts["memory-mb"], 256, 16 * 1024 * 1024) ??
        fail(`memory-mb must be a number of MiB, got ${opts["memory-mb"]}`));
  const lxcPath = opts["lxc-path"];
  if (lxcPath !== undefined && !lxcPath.startsWith("/")) fail("lxc-path must be an absolute path");
  const extra = { ...(lxcPath ? { lxc_path: lxcPath } : {}), ...(memory ? { memory_mb: memory } : {}) };

  if (target === "local") {
    if (opts.key || opts["host-key"]) fail("a local host takes no key or host-key");
    return { transport: { kind: "local" }, slots, ...extra };
  }
  // user@host:port, user@[v6]:port; the user defaults to root (privileged LXC), the port to 22.
  const m = /^(?:([a-z_][a-z0-9_.-]*)@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(target);
  if (!m) fail("the host must be [user@]host[:port] or local");
  const [, user, rawHost, rawPort] = m as RegExpExecArray;
  const port = rawPort === undefined ? 22 : Number(rawPort);
  if (!(port >= 1 && port <= 65535)) fail(`port ${rawPort} is out of range`);
  if (!opts.key) fail("key=FILE (the daemon's private key for this host) is required");
  if (!opts["host-key"])
    fail("host-key=KEY (the host's pinned public key or SHA256: fingerprint) is required");
  try {
    parseHostKeyPin(opts["host-key"] as string);
  } catch (err) {
    fail((err as Error).message);
  }
  return {
    transport: {
      kind: "ssh",
      host: rawHost.replace(/^\[|\]$/g, ""),
      port,
      username: user ?? "root",
      private_key_file: opts.key as string,
      host_key: opts["host-key"] as string,
    },
    slots,
    ...extra,
  };
}

/** A name for logs: `root@fleet-1:22 (/var/lib/lxc)`, `local`. */
export function hostLabel(host: HostConfig): string {
  const t = host.transport;
  const where = t.kind === "local" ? "local" : `${t.username}@${t.host}:${t.port ?? 22}`;
  return host.lxc_path ? `${where} (${host.lxc_path})` : where;
}

/** Two entries for one host and lxcpath would reap each other's containers. */
export function checkDistinct(hosts: HostConfig[]): void {
  const seen = new Set<string>();
  for (const h of hosts) {
    const label = hostLabel(h);
    if (seen.has(label)) throw new HostSpecError(`--lxc-host ${label} is given twice`);
    seen.add(label);
  }
}

function integer(text: string, min: number, max: number): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}
