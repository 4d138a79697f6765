// The `lxc` driver: one overlay clone of the base template per job slice (an unprivileged
// container, scripts/lxc-base-template.sh), driven with lxc-* commands through a HostTransport
// (ssh to the fleet host, or local). Each clone is marked with the builder that owns it.

import type { NetworkConfig } from "../identity.ts";
import { shellCommand, shellQuote } from "../transport/shell.ts";
import { cgroupSettings, diskBytes, formatBytes, parseOomKills } from "./lxc-limits.ts";
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
  /**
   * The builder that owns the sandboxes this driver makes (its id), written into each one; the
   * orphan reaper removes only this owner's. Absent: sandboxes are unmarked, and the reaper removes
   * only unmarked ones (a driver with no owner, as in tests).
   */
  owner?: string;
  /** Which of these other owners the server says are gone (revoked): their sandboxes are reaped too. */
  goneOwners?: (owners: string[]) => Promise<string[]>;
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

  /** Every `cairn-*` container on the host with its owner mark ("" when unmarked). */
  async function listOwned(): Promise<{ name: string; owner: string }[]> {
    const r = await run(["sh", "-c", LIST, "cairn-list", options.lxcPath ?? ""], "listing containers");
    return r.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [name = "", owner = ""] = line.split(" ");
        return { name, owner };
      });
  }

  async function unifiedCgroups(): Promise<boolean> {
    return (await transport.exec(["test", "-f", "/sys/fs/cgroup/cgroup.controllers"])).code === 0;
  }

  async function destroy(name: string): Promise<void> {
    // One exec for the whole stop-and-verify: cancellation has seconds, not round trips, to spare.
    const r = await transport.exec(["sh", "-c", DESTROY, "cairn-destroy", name, options.lxcPath ?? ""]);
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
      const limits = { ...options.limits, ...opts.limits };
      const made = await transport.exec([
        "sh",
        "-c",
        CREATE,
        "cairn-create",
        from,
        name,
        String(startTimeout),
        options.lxcPath ?? "",
        options.owner ?? "",
        limits.diskBytes === undefined ? "" : String(diskBytes(limits.diskBytes)),
      ]);
      const why =
        (made.stdout + made.stderr).trim() || `lxc-copy of ${from} to ${name} failed (exit ${made.code})`;
      // Exit 2/3: nothing was made (no template; the name is taken, maybe by a live job).
      if (made.code === 2 || made.code === 3) throw new LxcError(why);
      let nat: NatAttachment | undefined;
      try {
        if (made.code !== 0) throw new LxcError(why);
        if (Object.keys(limits).some((k) => k !== "diskBytes")) await applyLimits(name, limits);
        if (options.network) nat = await connect(name, options.network);
        return sandbox(name, limits.memoryBytes, nat);
      } catch (err) {
        await remove(name, nat).catch(() => {});
        throw err;
      }
    },

    async reapOrphans(keep) {
      const self = options.owner ?? "";
      const found = (await listOwned()).filter((c) => c.name !== template && !keep.has(c.name));
      const others = [...new Set(found.map((c) => c.owner).filter((o) => o && o !== self))];
      const gone = new Set(others.length && options.goneOwners ? await options.goneOwners(others) : []);
      // Another builder's sandbox may be its running job: only the server can say that builder is gone.
      const orphans = found.filter((c) => c.owner === self || gone.has(c.owner)).map((c) => c.name);
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

/** Where a sandbox's owner (the builder's id) is written, beside its LXC config. */
const OWNER_FILE = "cairn-owner";

/** $1 = lxcpath or "": prints `NAME OWNER` for every `cairn-*` container (OWNER empty when unmarked). */
const LIST = [
  "lp=${1:-$(lxc-config lxc.lxcpath)}",
  `for n in $(lxc-ls -P "$lp" -1); do case $n in ${SANDBOX_PREFIX}*) echo "$n $(cat "$lp/$n/${OWNER_FILE}" 2>/dev/null)" ;; esac; done`,
].join("\n");

/**
 * $1 = template, $2 = name, $3 = start timeout (s), $4 = lxcpath or "", $5 = owner or "", $6 = disk
 * bytes or "". lxc-copy itself fails silently (exit 1, no message), hence the checks first. With a
 * disk limit the clone's writable layer (overlay/, upper and work dirs) is an ext4 image of that
 * size, loop-mounted: a build that fills it gets ENOSPC, the host's disk stays free. umask 022: the
 * container's root is an unprivileged host uid that must traverse what is made here.
 */
const CREATE = [
  "umask 022",
  "t=$1; n=$2; w=$3; lp=${4:-$(lxc-config lxc.lxcpath)}; owner=$5; disk=$6",
  'd="$lp/$n"',
  'lxc-info -P "$lp" -n "$t" >/dev/null 2>&1 || { echo "template container $t does not exist (run scripts/lxc-base-template.sh)"; exit 2; }',
  'if lxc-info -P "$lp" -n "$n" >/dev/null 2>&1; then echo "container $n already exists"; exit 3; fi',
  'lxc-copy -P "$lp" -n "$t" -N "$n" -s -B overlay >/dev/null || { echo "lxc-copy of template $t to $n failed"; exit 4; }',
  `[ -z "$owner" ] || echo "$owner" >"$d/${OWNER_FILE}"`,
  'if [ -n "$disk" ]; then',
  '  ids=$(stat -c %u:%g "$d/overlay")',
  '  truncate -s "$disk" "$d/disk.img" && mkfs.ext4 -q -F -m 0 -O ^has_journal -E lazy_itable_init=1,nodiscard "$d/disk.img" >/dev/null \\',
  '    && mount -o loop,nosuid,nodev "$d/disk.img" "$d/overlay" && mkdir "$d/overlay/delta" "$d/overlay/work" \\',
  '    && rmdir "$d/overlay/lost+found" && chown "$ids" "$d/overlay" "$d/overlay/delta" "$d/overlay/work" \\',
  '    || { echo "cannot make the $disk-byte writable layer of $n (mkfs.ext4, loop mount)"; exit 4; }',
  "fi",
  'log="$d/start.log"',
  'if ! lxc-start -P "$lp" -n "$n" -d -l WARN -o "$log"; then',
  '  echo "lxc-start of $n failed:"; grep -E "ERROR|WARN" "$log" | tail -n 20; exit 4',
  "fi",
  'lxc-wait -P "$lp" -n "$n" -s RUNNING -t "$w" || { echo "container $n did not reach RUNNING within ${w}s:"; grep -E "ERROR|WARN" "$log" | tail -n 20; exit 5; }',
].join("\n");

/**
 * $1 = name, $2 = lxcpath or "". -k: a build container has nothing to shut down gracefully. The
 * writable layer's image is unmounted before lxc-destroy removes the container's directory.
 * Idempotent: a missing container is success.
 */
const DESTROY = [
  'n=$1; lp=${2:-$(lxc-config lxc.lxcpath)}; d="$lp/$n"',
  'there() { lxc-info -P "$lp" -n "$n" >/dev/null 2>&1; }',
  "there || exit 0",
  'if lxc-info -P "$lp" -s -n "$n" 2>/dev/null | grep -q RUNNING; then',
  '  lxc-stop -P "$lp" -k -n "$n" >/dev/null 2>&1',
  '  lxc-wait -P "$lp" -n "$n" -s STOPPED -t 5 >/dev/null 2>&1',
  "fi",
  'if mountpoint -q "$d/overlay" 2>/dev/null; then umount "$d/overlay" 2>&1 || umount -l "$d/overlay" 2>&1; fi',
  'lxc-destroy -P "$lp" -f -n "$n" 2>&1',
  'if there; then echo "container $n is still present after lxc-stop and lxc-destroy"; exit 1; fi',
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
  '[ "$(id -u)" = 0 ] || say "not running as root (LXC containers with a uid map, loop-mounted layers and cgroup limits need root)"',
  "for t in lxc-copy lxc-start lxc-attach lxc-ls lxc-stop lxc-wait lxc-info lxc-cgroup bash tar mkfs.ext4 mountpoint; do",
  '  command -v "$t" >/dev/null 2>&1 || say "$t not found (apt-get install -y lxc e2fsprogs util-linux)"',
  "done",
  'if command -v lxc-info >/dev/null 2>&1; then P=""; [ -n "$2" ] && P="-P $2"',
  '  if lxc-info $P -n "$1" >/dev/null 2>&1; then',
  '    grep -q "^lxc.idmap" "${2:-$(lxc-config lxc.lxcpath)}/$1/config" 2>/dev/null || say "template container $1 is privileged (no lxc.idmap): run scripts/lxc-base-template.sh again"',
  '  else say "template container $1 does not exist (run scripts/lxc-base-template.sh)"; fi',
  "fi",
  "exit $bad",
].join("\n");
