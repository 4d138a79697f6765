// The `lxc` driver: one overlay clone of the base template per job slice (an unprivileged
// container, scripts/lxc-base-template.sh), driven with lxc-* commands through a HostTransport
// (ssh to the fleet host, or local). Each clone is marked with the builder that owns it. A job's
// service containers are clones of their own images in its network namespace (startService).

import type { NetworkConfig } from "../identity.ts";
import { shellCommand, shellQuote } from "../transport/shell.ts";
import { cgroupSettings, diskBytes, formatBytes, parseOomKills } from "./lxc-limits.ts";
import { attachNat, detachNat, type NatAttachment, resolvConf } from "./lxc-network.ts";
import { SANDBOX_PREFIX, sandboxName } from "./sandbox-name.ts";
import { captureOnHost, feedOnHost, SPOOL_DIR, SPOOL_PREFIX } from "./spool.ts";
import { SANDBOX_SH_PRELUDE, STEP_RUNNER, shellWords, stepEnv } from "./step-runner.ts";
import type {
  Driver,
  ExecResult,
  HostTransport,
  Sandbox,
  SandboxLimits,
  SandboxNetwork,
  SandboxUser,
  ServiceContainer,
  ServiceSpec,
  StepIO,
  StepSpec,
} from "./types.ts";

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
  /** The image's user (builder/images): steps, SSH sessions and file transfers run as it. */
  user?: SandboxUser;
  /** `none`: loopback only, even with the builder's NAT bridge (the project's `network: none`). */
  network?: "egress" | "none";
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
  const attachArgv = (
    name: string,
    { keep = [], set = [], user }: { keep?: string[]; set?: string[]; user?: SandboxUser } = {},
  ) => [
    "lxc-attach",
    ...P,
    "-n",
    name,
    ...(user ? ["-u", String(user.uid), "-g", String(user.gid)] : []),
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
  async function listOwned(): Promise<{ name: string; owner: string; job: string }[]> {
    const r = await run(["sh", "-c", LIST, "cairn-list", options.lxcPath ?? ""], "listing containers");
    return r.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [name = "", owner = "", job = ""] = line.split(" ");
        return { name, owner, job };
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

  /** Starts a service container in `primary`'s network (and, under cgroup v1, inside its cgroup). */
  async function startService(
    primary: string,
    spec: ServiceSpec,
    limits: SandboxLimits,
  ): Promise<ServiceContainer> {
    const name = sandboxName(`${primary}-svc${spec.index}`);
    if (spec.argv.length === 0)
      throw new LxcError(`service ${name} has nothing to run (no entrypoint or command)`);
    const names = [spec.hostname ?? name, ...(spec.peers ?? [])];
    const bad = names.find((h) => !HOST_NAME.test(h));
    if (bad !== undefined) throw new LxcError(`service ${name}: ${JSON.stringify(bad)} is not a host name`);
    // What Docker writes into every container: localhost and its own name; the job's other services too.
    const hosts = `127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n127.0.0.1 ${names.join(" ")}\n`;
    const dns = options.network?.dns?.length ? resolvConf(options.network) : "";
    const extra = [
      `lxc.uts.name = ${spec.hostname ?? name}`,
      // The job container's user namespace too: a network namespace is joined from the user namespace that owns it.
      `lxc.namespace.share.net = ${primary}`,
      `lxc.namespace.share.user = ${primary}`,
      "lxc.init.cmd = /.cairn/busybox sh /.cairn/service",
      `lxc.init.uid = ${spec.uid}`,
      `lxc.init.gid = ${spec.gid}`,
    ].join("\n");
    const made = await transport.exec(
      [
        "sh",
        "-c",
        CREATE,
        "cairn-create",
        spec.template,
        name,
        String(startTimeout),
        options.lxcPath ?? "",
        options.owner ?? "",
        limits.diskBytes === undefined ? "" : String(diskBytes(limits.diskBytes)),
        primary,
        extra,
        hosts,
        dns,
      ],
      { stdin: serviceInit(spec) },
    );
    const why =
      (made.stdout + made.stderr).trim() ||
      `starting service ${name} from ${spec.template} failed (exit ${made.code})`;
    if (made.code === 2 || made.code === 3) throw new LxcError(why);
    try {
      if (made.code !== 0) throw new LxcError(why);
      // Nested under the job's cgroup (v1), the job's limits hold it; under cgroup v2 it has its own.
      if ((await unifiedCgroups()) && Object.keys(limits).some((k) => k !== "diskBytes"))
        await applyLimits(name, limits);
    } catch (err) {
      await destroy(name).catch(() => {});
      throw err;
    }
    return {
      name,
      async output(maxBytes = 64 * 1024) {
        const r = await transport.exec([
          "sh",
          "-c",
          SERVICE_OUTPUT,
          "cairn-svc-log",
          name,
          options.lxcPath ?? "",
          String(maxBytes),
        ]);
        // Its console is a terminal: lines end in \r\n there.
        return r.stdout.replaceAll("\r\n", "\n");
      },
      async running() {
        const r = await transport.exec(["lxc-info", ...P, "-s", "-n", name]);
        return r.code === 0 && r.stdout.includes("RUNNING");
      },
    };
  }

  function sandbox(name: string, limits: SandboxLimits, nat?: NatAttachment, user?: SandboxUser): Sandbox {
    const memoryBytes = limits.memoryBytes;
    let oomSeen = 0;
    const home = user?.home ?? "/root";
    const attach = (env: string[] = []) =>
      attachArgv(name, { keep: env, user, set: user && !env.includes("HOME") ? [`HOME=${home}`] : [] });
    const network: SandboxNetwork =
      nat && options.network
        ? {
            mode: "egress",
            address: nat.address,
            bridge: options.network.bridge,
            allow: options.network.allow ?? [],
            dns: options.network.dns ?? [],
          }
        : { mode: "none" };
    return {
      name,
      unsandboxed: false,
      home,
      network,

      async attach(opts) {
        // A login shell in the job's working directory; the job's secrets are not in its env.
        const dir = opts.workdir ?? "~";
        const start = `cd ${dir === "~" || dir.startsWith("~/") ? `"$HOME"${shellQuote(dir.slice(1))}` : shellQuote(dir)} 2>/dev/null; `;
        // Every process of the session carries its mark, so ending the session finds them all.
        const mark = `CAIRN_SSH_SESSION=${crypto.randomUUID()}`;
        const set = [
          `HOME=${home}`,
          `TERM=${opts.pty?.term ?? "dumb"}`,
          "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          mark,
        ];
        const argv = [
          ...attachArgv(name, { set, user }),
          "/bin/bash",
          "-c",
          opts.command ? `${start}${opts.command}` : `${start}exec /bin/bash -l`,
        ];
        const inside = await transport.interactive(argv, { pty: opts.pty });
        let ending = false;
        return {
          write: (b) => inside.write(b),
          end: () => inside.end(),
          resize: (rows, cols) => inside.resize(rows, cols),
          onData: (cb) => inside.onData(cb),
          onExit: (cb) => inside.onExit(cb),
          kill() {
            // Ending lxc-attach does not end a command without a terminal to hang up (it outlives
            // it, as `sleep 600` does): hang up the session's processes inside, then kill them.
            if (ending) return;
            ending = true;
            void transport
              .exec([...attachArgv(name), "/bin/sh", "-c", HANG_UP, "cairn-hang-up", mark])
              .catch(() => {})
              .finally(() => inside.kill());
          },
        };
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
        const env = stepEnv(step.env, home);
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
            .exec([...attachArgv(name), "/bin/sh", "-c", "kill -KILL -1"])
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

      async startService(spec) {
        const service = await startService(name, spec, limits);
        // `localhost` (which an image's /etc/hosts may lack, as Docker always writes it) and its name
        // resolve in the job's container, to the network they share.
        const argv = [...attachArgv(name), "/bin/sh", "-c", HOSTS, "cairn-hosts", spec.hostname ?? ""];
        const r = await transport.exec(argv);
        if (r.code !== 0) throw new LxcError(`cannot write /etc/hosts in ${name}: ${r.stderr.trim()}`);
        return service;
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
        if (options.network && opts.network !== "none") nat = await connect(name, options.network);
        return sandbox(name, limits, nat, opts.user);
      } catch (err) {
        await remove(name, nat).catch(() => {});
        throw err;
      }
    },

    async reapOrphans(keep) {
      const self = options.owner ?? "";
      const all = await listOwned();
      const names = new Set(all.map((c) => c.name));
      // A service container goes with its job container: kept with it, or destroyed by its destroy.
      const found = all.filter(
        (c) => c.name !== template && !keep.has(c.name) && !(c.job && names.has(c.job)),
      );
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

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$/;

/** Beside a service container's LXC config: the job container it belongs to. */
const SERVICE_FILE = "cairn-service-of";
/** Beside it too: what its PID 1 wrote (its console). */
const SERVICE_LOG = "console.log";

/** $1 = name, $2 = lxcpath or "", $3 = bytes: the end of a service container's output. */
const SERVICE_OUTPUT = `lp=\${2:-$(lxc-config lxc.lxcpath)}; tail -c "$3" "$lp/$1/${SERVICE_LOG}" 2>/dev/null; exit 0`;

/**
 * $1 = lxcpath or "": prints `NAME OWNER JOB` for every `cairn-*` container (OWNER empty when
 * unmarked; JOB, for a service container, the job container it belongs to).
 */
const LIST = [
  "lp=${1:-$(lxc-config lxc.lxcpath)}",
  `for n in $(lxc-ls -P "$lp" -1); do case $n in ${SANDBOX_PREFIX}*) echo "$n $(cat "$lp/$n/${OWNER_FILE}" 2>/dev/null) $(cat "$lp/$n/${SERVICE_FILE}" 2>/dev/null)" ;; esac; done`,
].join("\n");

/**
 * $1 = template, $2 = name, $3 = start timeout (s), $4 = lxcpath or "", $5 = owner or "", $6 = disk
 * bytes or ""; for a service container, $7 = the job container whose namespaces it joins (its init
 * script on stdin), $8 = config lines it adds, $9 = its /etc/hosts, $10 = its /etc/resolv.conf or
 * "". lxc-copy itself fails silently (exit 1, no message), hence the checks first. With a
 * disk limit the clone's writable layer (overlay/, upper and work dirs) is an ext4 image of that
 * size, loop-mounted: a build that fills it gets ENOSPC, the host's disk stays free. umask 022: the
 * container's root is an unprivileged host uid that must traverse what is made here.
 */
const CREATE = [
  "umask 022",
  "t=$1; n=$2; w=$3; lp=${4:-$(lxc-config lxc.lxcpath)}; owner=$5; disk=$6; primary=$7; extra=$8; hosts=$9; dns=${10}",
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
  // A service container: its init (stdin) into its writable layer, then the primary's namespaces.
  'if [ -n "$primary" ]; then',
  `  echo "$primary" >"$d/${SERVICE_FILE}"`,
  '  pp=$(lxc-info -P "$lp" -n "$primary" -pH 2>/dev/null); [ -n "$pp" ] || { echo "service $n: its job container $primary is not running"; exit 4; }',
  '  up="$d/overlay/delta"',
  '  mkdir -p "$up/.cairn" "$up/etc" && cat >"$up/.cairn/service" && chmod 0755 "$up/.cairn" "$up/.cairn/service" \\',
  '    && printf "%s" "$hosts" >"$up/etc/hosts" && { [ -z "$dns" ] || printf "%s" "$dns" >"$up/etc/resolv.conf"; } \\',
  '    && chown -R "$(stat -c %u:%g "$up")" "$up/.cairn" "$up/etc" || { echo "cannot write the init of service $n"; exit 4; }',
  `  printf "%s\\nlxc.console.logfile = %s\\n" "$extra" "$d/${SERVICE_LOG}" >>"$d/config"`,
  // cgroup v1: nested in the job's cgroup, so the job's limits count the service's use too.
  "  if [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then",
  '    cg=$(sed -n "s/^[0-9]*:memory://p" "/proc/$pp/cgroup"); me=$(sed -n "s/^[0-9]*:memory://p" /proc/self/cgroup)',
  '    rel=${cg#"${me%/}"/}',
  '    printf "lxc.cgroup.dir.container = %s\\nlxc.cgroup.dir.monitor = lxc.monitor.%s\\n" "${rel#/}/$n" "$n" >>"$d/config"',
  "  fi",
  "fi",
  'log="$d/start.log"',
  'if ! lxc-start -P "$lp" -n "$n" -d -l WARN -o "$log"; then',
  '  echo "lxc-start of $n failed:"; grep -E "ERROR|WARN" "$log" | tail -n 20; exit 4',
  "fi",
  'if ! lxc-wait -P "$lp" -n "$n" -s RUNNING -t "$w" 2>"$d/wait.log"; then',
  // A service whose program ends at once can be STOPPED before lxc-wait looks: lxc-start -d came
  // back, so it ran; its console log says how it ended, as `docker run` of such an image would.
  '  if [ -n "$primary" ] && lxc-info -P "$lp" -s -n "$n" 2>/dev/null | grep -q STOPPED; then exit 0; fi',
  '  echo "container $n did not reach RUNNING within ${w}s:"; cat "$d/wait.log"; grep -E "ERROR|WARN" "$log" | tail -n 20; exit 5',
  "fi",
].join("\n");

/**
 * $1 = name, $2 = lxcpath or "". -k: a build container has nothing to shut down gracefully. Its
 * service containers go first. The writable layer's image is unmounted before lxc-destroy removes
 * the container's directory. Idempotent: a missing container is success.
 */
const DESTROY = [
  "lp=${2:-$(lxc-config lxc.lxcpath)}",
  'there() { lxc-info -P "$lp" -n "$1" >/dev/null 2>&1; }',
  "one() {",
  '  n=$1; d="$lp/$n"',
  "  there $n || return 0",
  '  if lxc-info -P "$lp" -s -n "$n" 2>/dev/null | grep -q RUNNING; then',
  '    lxc-stop -P "$lp" -k -n "$n" >/dev/null 2>&1',
  '    lxc-wait -P "$lp" -n "$n" -s STOPPED -t 5 >/dev/null 2>&1',
  "  fi",
  '  if mountpoint -q "$d/overlay" 2>/dev/null; then umount "$d/overlay" 2>&1 || umount -l "$d/overlay" 2>&1; fi',
  '  lxc-destroy -P "$lp" -f -n "$n" 2>&1',
  '  if there $n; then echo "container $n is still present after lxc-stop and lxc-destroy"; return 1; fi',
  "}",
  // Its service containers first: they live in its network and (cgroup v1) inside its cgroup.
  `for f in "$lp"/*/${SERVICE_FILE}; do`,
  '  [ -f "$f" ] && [ "$(cat "$f")" = "$1" ] || continue',
  '  s=${f%/*}; one "${s##*/}" || exit 1',
  "done",
  'one "$1"',
].join("\n");

/** $1 = a service's host name or "": it and `localhost` resolve to 127.0.0.1 in the job's container. */
const HOSTS = [
  // Readable by the image's user, whatever umask the builder was started with.
  "umask 022; h=/etc/hosts",
  'grep -qE "^127\\.0\\.0\\.1[[:space:]](.*[[:space:]])?localhost([[:space:]]|$)" $h 2>/dev/null || printf "127.0.0.1 localhost\\n::1 localhost\\n" >>$h',
  '[ -z "$1" ] || printf "127.0.0.1 %s\\n" "$1" >>$h',
].join("\n");

/** Unpacks a tar from stdin at $1 inside the container (`~` is $HOME). */
/**
 * Ends an SSH session's processes, found by their mark ($1) in their environment: SIGHUP, then
 * SIGKILL to those still there after 2 s (as sshd's hang-up when a connection drops).
 */
const HANG_UP = [
  'marked() { for p in /proc/[0-9]*; do tr "\\0" "\\n" <"$p/environ" 2>/dev/null | grep -qxF "$1" && echo "${p#/proc/}"; done; }',
  'p=$(marked "$1"); [ -z "$p" ] && exit 0',
  "kill -HUP $p 2>/dev/null",
  'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.2; p=$(marked "$1"); [ -z "$p" ] && exit 0; done',
  "kill -KILL $p 2>/dev/null; exit 0",
].join("\n");

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

/**
 * A service container's PID 1 (run by the image's static busybox, as `lxc.init.uid`): argv in its
 * working directory with exactly its environment, as Docker starts a container.
 */
export function serviceInit(spec: ServiceSpec): string {
  const env = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...spec.env };
  const dir = spec.workdir || "/";
  return [
    `cd ${shellQuote(dir)} 2>/dev/null || { echo ${shellQuote(`cairn: cannot enter the working directory ${dir}`)} >&2; exit 1; }`,
    `exec /.cairn/busybox env -i ${Object.entries(env)
      .map(([k, v]) => shellQuote(`${k}=${v}`))
      .join(" ")} ${spec.argv.map(shellQuote).join(" ")}`,
    "",
  ].join("\n");
}
