// The `lxc` driver: one ephemeral overlay clone of the base template per job slice, driven with
// lxc-* commands through a HostTransport (ssh to the fleet host, or local).

import type { NetworkConfig } from "../identity.ts";
import { shellCommand, shellQuote } from "../transport/shell.ts";
import { cgroupSettings, formatBytes, parseOomKills } from "./lxc-limits.ts";
import { attachNat, detachNat, type NatAttachment, resolvConf } from "./lxc-network.ts";
import { SANDBOX_PREFIX, sandboxName } from "./sandbox-name.ts";
import { captureOnHost, feedOnHost, SPOOL_DIR, SPOOL_PREFIX } from "./spool.ts";
import { SANDBOX_SH_PRELUDE, STEP_RUNNER, shellWords, stepEnv } from "./step-runner.ts";
import type { Driver, ExecResult, HostTransport, Sandbox, SandboxLimits, StepIO, StepSpec } from "./types.ts";

export type { SandboxLimits };

export interface LxcDriverOptions {
  transport: HostTransport;
  /** Base template every sandbox is cloned from (see scripts/lxc-base-template.sh). */
  template?: string;
  /** LXC's container directory on the host; LXC's default (/var/lib/lxc) when absent. */
  lxcPath?: string;
  /** Default cgroup limits for every sandbox; create() may override per resource class. */
  limits?: SandboxLimits;
  /** Seconds to wait for a clone to reach RUNNING. */
  startTimeoutSec?: number;
  /** An egress-only NAT bridge (lxc-network.ts, made by ensureNatNetwork); absent: loopback only. */
  network?: NetworkConfig;
}

export interface LxcCreateOptions {
  name: string;
  template?: string;
  limits?: SandboxLimits;
}

export class LxcError extends Error {
  readonly code = "lxc_failed";
  constructor(message: string) {
    super(message);
    this.name = "LxcError";
  }
}

export function createLxcDriver(options: LxcDriverOptions): Driver {
  const { transport } = options;
  const template = options.template ?? "cairn-base";
  const startTimeout = options.startTimeoutSec ?? 20;
  const P = options.lxcPath ? ["-P", options.lxcPath] : [];
  /** `lxc-attach … --` into `name` with a clear environment: `keep` names pass through, `set` are NAME=value. */
  const attachArgv = (name: string, { keep = [], set = [] }: { keep?: string[]; set?: string[] } = {}) => [
    "lxc-attach",
    ...P,
    "-n",
    name,
    "--clear-env",
    ...keep.flatMap((k) => ["--keep-var", k]),
    ...set.flatMap((v) => ["--set-var", v]),
    "--",
  ];

  const run = (argv: string[], what: string) =>
    transport.exec(argv).then((r) => {
      if (r.code !== 0)
        throw new LxcError(`${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
      return r;
    });

  async function list(): Promise<string[]> {
    const r = await run(["lxc-ls", ...P, "-1"], "lxc-ls");
    return r.stdout.split(/\s+/).filter(Boolean);
  }

  async function unifiedCgroups(): Promise<boolean> {
    return (await transport.exec(["test", "-f", "/sys/fs/cgroup/cgroup.controllers"])).code === 0;
  }

  async function destroy(name: string): Promise<void> {
    // One exec for the whole stop-and-verify: cancellation has seconds, not round trips, to spare.
    const r = await transport.exec(["sh", "-c", DESTROY, "cairn-destroy", name, ...P]);
    if (r.code !== 0)
      throw new LxcError((r.stdout + r.stderr).trim() || `destroying ${name} failed (exit ${r.code})`);
  }

  async function applyLimits(name: string, limits: SandboxLimits): Promise<void> {
    const settings = cgroupSettings(limits, await unifiedCgroups());
    for (const { key, value, optional } of settings) {
      const r = await transport.exec(["lxc-cgroup", ...P, "-n", name, key, value]);
      if (r.code !== 0 && !optional) {
        throw new LxcError(`cannot set cgroup ${key}=${value} on ${name}: ${r.stderr.trim()}`);
      }
    }
  }

  /** The cgroup's count of OOM kills (v2 memory.events, v1 memory.oom_control), 0 if unknown. */
  async function oomKills(name: string): Promise<number> {
    for (const key of ["memory.events", "memory.oom_control"]) {
      const r = await transport.exec(["lxc-cgroup", ...P, "-n", name, key]);
      const kills = r.code === 0 ? parseOomKills(r.stdout) : undefined;
      if (kills !== undefined) return kills;
    }
    return 0;
  }

  async function connect(name: string, net: NetworkConfig): Promise<NatAttachment> {
    const nat = await attachNat(transport, net, name, options.lxcPath);
    if (net.dns?.length) {
      const argv = [...attachArgv(name), "/bin/sh", "-c", "cat >/etc/resolv.conf"];
      const r = await transport.exec(argv, { stdin: resolvConf(net) });
      if (r.code !== 0) throw new LxcError(`cannot write /etc/resolv.conf in ${name}: ${r.stderr.trim()}`);
    }
    return nat;
  }

  async function remove(name: string, nat?: NatAttachment): Promise<void> {
    await destroy(name);
    if (nat && options.network) await detachNat(transport, options.network, nat).catch(() => {});
  }

  function sandbox(name: string, memoryBytes?: number, nat?: NatAttachment): Sandbox {
    let oomSeen = 0;
    const attach = (env: string[] = []) => attachArgv(name, { keep: env });
    return {
      name,
      unsandboxed: false,

      attach(opts) {
        // A login shell in the job's working directory; the job's secrets are not in its env.
        const dir = opts.workdir ?? "~";
        const start = `cd ${dir === "~" || dir.startsWith("~/") ? `"$HOME"${shellQuote(dir.slice(1))}` : shellQuote(dir)} 2>/dev/null; `;
        const set = [
          "HOME=/root",
          `TERM=${opts.pty?.term ?? "dumb"}`,
          "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ];
        const argv = [
          ...attachArgv(name, { set }),
          "/bin/bash",
          "-c",
          opts.command ? `${start}${opts.command}` : `${start}exec /bin/bash -l`,
        ];
        return transport.interactive(argv, { pty: opts.pty });
      },

      async putTree(hostDir, dest) {
        // The container has no network: the checkout is streamed in as a tar on the host.
        const unpack = [...attach(), "/bin/sh", "-c", UNPACK, "cairn-put", dest];
        const script = `set -o pipefail; tar -C "$1" -cf - . | ${shellCommand(unpack)}`;
        const r = await transport.exec(["bash", "-c", script, "cairn-put", hostDir]);
        if (r.code !== 0) {
          throw new LxcError(
            `copying ${hostDir} into ${name}:${dest} failed (exit ${r.code}): ${r.stderr.trim()}`,
          );
        }
      },

      async run(step: StepSpec, io: StepIO): Promise<number> {
        const env = stepEnv(step.env, "/root");
        const argv = [
          ...attach(Object.keys(env)),
          "/bin/sh",
          "-c",
          STEP_RUNNER,
          "cairn-step",
          step.workdir,
          ...shellWords(step.shell),
        ];
        const attachAbort = new AbortController();
        let killing: Promise<unknown> | undefined;
        const onAbort = () => {
          // Killing lxc-attach does not kill what it started inside; kill every process in the
          // container but init (one step runs at a time per sandbox), then the attach itself.
          killing = transport
            .exec([...attach(), "/bin/sh", "-c", "kill -KILL -1"])
            .catch(() => {})
            .finally(() => attachAbort.abort());
        };
        if (io.signal?.aborted) return 137;
        io.signal?.addEventListener("abort", onAbort, { once: true });
        try {
          const r: ExecResult = await transport.exec(argv, {
            env,
            stdin: step.script,
            onStdout: io.onOutput,
            onStderr: io.onOutput,
            signal: attachAbort.signal,
          });
          if (r.code !== 0 && memoryBytes !== undefined && !killing) {
            // Say why in the log: a bare exit 137 reads like a crash, not a limit.
            const kills = await oomKills(name);
            if (kills > oomSeen) {
              oomSeen = kills;
              io.onOutput(
                new TextEncoder().encode(
                  `\ncairn: out of memory: a process was killed for exceeding this job's memory limit of ${formatBytes(memoryBytes)}\n`,
                ),
              );
            }
          }
          return r.code;
        } finally {
          io.signal?.removeEventListener("abort", onAbort);
          // The next step must not start while this one's kill is still in flight.
          await killing;
        }
      },

      async capture(script, args) {
        const inner = [...attach(), "/bin/sh", "-c", SANDBOX_SH_PRELUDE + script, "cairn-sh", ...args];
        return captureOnHost(transport, inner).catch((err) => {
          throw new LxcError(`${(err as Error).message} (in ${name})`);
        });
      },

      async feed(script, args, input) {
        const inner = [...attach(), "/bin/sh", "-c", SANDBOX_SH_PRELUDE + script, "cairn-sh", ...args];
        await feedOnHost(transport, inner, input).catch((err) => {
          throw new LxcError(`${(err as Error).message} (in ${name})`);
        });
      },

      destroy: () => remove(name, nat),
    };
  }

  return {
    kind: "lxc",

    async check() {
      const r = await transport.exec(["sh", "-c", CHECK, "cairn-check", template, options.lxcPath ?? ""]);
      if (r.code !== 0) {
        throw new LxcError(`this host cannot run LXC sandboxes:\n${(r.stdout + r.stderr).trim()}`);
      }
    },

    async create(opts: LxcCreateOptions) {
      const name = sandboxName(opts.name);
      const from = opts.template ?? template;
      const made = await transport.exec([
        "sh",
        "-c",
        CREATE,
        "cairn-create",
        from,
        name,
        String(startTimeout),
        ...P,
      ]);
      const why =
        (made.stdout + made.stderr).trim() || `lxc-copy of ${from} to ${name} failed (exit ${made.code})`;
      // Exit 2/3: nothing was made (no template; the name is taken, maybe by a live job).
      if (made.code === 2 || made.code === 3) throw new LxcError(why);
      let nat: NatAttachment | undefined;
      try {
        if (made.code !== 0) throw new LxcError(why);
        const limits = { ...options.limits, ...opts.limits };
        if (Object.keys(limits).length) await applyLimits(name, limits);
        if (options.network) nat = await connect(name, options.network);
        return sandbox(name, limits.memoryBytes, nat);
      } catch (err) {
        await remove(name, nat).catch(() => {});
        throw err;
      }
    },

    async reapOrphans(keep) {
      const orphans = (await list()).filter(
        (n) => n.startsWith(SANDBOX_PREFIX) && n !== template && !keep.has(n),
      );
      await Promise.all(orphans.map((n) => destroy(n)));
      // Spools a crashed daemon left behind (an hour old: none of a live transfer's).
      await transport.exec([
        "find",
        SPOOL_DIR,
        "-maxdepth",
        "1",
        "-name",
        `${SPOOL_PREFIX}*`,
        "-mmin",
        "+60",
        "-exec",
        "rm",
        "-rf",
        "{}",
        "+",
      ]);
      return orphans;
    },
  };
}

/**
 * $1 = template, $2 = name, $3 = start timeout (s), then `-P lxcpath` if any. lxc-copy itself
 * fails silently (exit 1, no message), hence the checks first.
 */
const CREATE = [
  // The clone's directories and its init (which every step descends from) get this umask, not
  // whatever the caller had (a server in the same process sets 077).
  "umask 022; t=$1; n=$2; w=$3; shift 3",
  'lxc-info "$@" -n "$t" >/dev/null 2>&1 || { echo "template container $t does not exist (run scripts/lxc-base-template.sh)"; exit 2; }',
  'if lxc-info "$@" -n "$n" >/dev/null 2>&1; then echo "container $n already exists"; exit 3; fi',
  'lxc-copy "$@" -n "$t" -N "$n" -e -B overlay >/dev/null || { echo "lxc-copy of template $t to $n failed"; exit 4; }',
  'lxc-wait "$@" -n "$n" -s RUNNING -t "$w" || { echo "container $n did not reach RUNNING within ${w}s"; exit 5; }',
].join("\n");

/**
 * $1 = name, then `-P lxcpath` if any. -k: a build container has nothing to shut down gracefully.
 * An ephemeral clone deletes itself once stopped; lxc-destroy covers one that lingers (a clone
 * that never started is not ephemeral yet). Idempotent: a missing container is success.
 */
const DESTROY = [
  "n=$1; shift",
  'there() { lxc-info "$@" -n "$n" >/dev/null 2>&1; }',
  'there "$@" || exit 0',
  'if lxc-info "$@" -s -n "$n" 2>/dev/null | grep -q RUNNING; then',
  '  lxc-stop "$@" -k -n "$n" >/dev/null 2>&1',
  "  i=0",
  '  while there "$@" && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done',
  "fi",
  'there "$@" || exit 0',
  'lxc-destroy "$@" -f -n "$n" 2>&1',
  'if there "$@"; then echo "container $n is still present after lxc-stop and lxc-destroy"; exit 1; fi',
].join("\n");

/** Unpacks a tar from stdin at $1 inside the container (`~` is $HOME). */
const UNPACK = [
  'umask 022; h=${HOME:-/root}; d=$1; case $d in "~") d=$h ;; "~/"*) d=$h/${d#"~/"} ;; esac',
  'mkdir -p "$d" && exec tar -C "$d" -xf -',
].join("\n");

/** Prints every problem it finds, then fails if there was one. $1 = template, $2 = lxcpath. */
const CHECK = [
  "bad=0",
  'say() { echo "- $*"; bad=1; }',
  '[ "$(id -u)" = 0 ] || say "not running as root (privileged LXC containers need root)"',
  "for t in lxc-copy lxc-attach lxc-ls lxc-stop lxc-wait lxc-info lxc-cgroup bash tar; do",
  '  command -v "$t" >/dev/null 2>&1 || say "$t not found (apt-get install -y lxc)"',
  "done",
  'if command -v lxc-info >/dev/null 2>&1; then P=""; [ -n "$2" ] && P="-P $2"',
  '  lxc-info $P -n "$1" >/dev/null 2>&1 || say "template container $1 does not exist (run scripts/lxc-base-template.sh)"',
  "fi",
  "exit $bad",
].join("\n");
