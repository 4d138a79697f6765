// Hostile steps in real unprivileged containers: each one tries to get out of its sandbox or past
// its limits, and each test asserts the exact refusal. SECURITY.md cites these tests by name.

import { afterEach, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { ensureBaseTemplate, requireLxc, TEMPLATE, testLxcPath } from "../../tests/harness/lxc.ts";
import { rootSubidStart } from "../../tests/support/subids.ts";
import { createLocalTransport } from "../transport/local.ts";
import { createLxcDriver } from "./lxc.ts";
import type { Sandbox } from "./types.ts";

setDefaultTimeout(120_000);

const skip = await requireLxc();

// This test process's own lxcpath (tests/harness/lxc.ts): no builder on this machine reaps it.
const LXC_PATH = skip ? "" : testLxcPath("confinement");
const unique = () => `cairn-conf-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const MiB = 1024 * 1024;

async function sh(box: Sandbox, script: string): Promise<{ code: number; output: string }> {
  let output = "";
  const code = await box.run(
    { script, shell: "/bin/sh", workdir: "/root", env: {} },
    { onOutput: (b) => (output += new TextDecoder().decode(b)) },
  );
  // The step runner runs the script from a temp file: name it `sh` in messages, as `sh -c` would.
  return { code, output: output.replace(/\/tmp\/cairn-step\.\w+/g, "sh") };
}

/** A cgroup v1 file of the container, read on the host. */
function hostCgroup(name: string, key: string): string {
  const r = spawnSync("lxc-cgroup", ["-P", LXC_PATH, "-n", name, key]);
  return r.stdout.toString().trim();
}

// Capabilities the container keeps (Docker's default set): chown dac_override fowner fsetid kill
// setgid setuid setpcap net_bind_service net_raw sys_chroot audit_write setfcap.
const KEPT_CAPS = "00000000a00425fb";
const CAP = { net_admin: 12, sys_ptrace: 19, sys_admin: 21, syslog: 34, perfmon: 38, bpf: 39 };

describe.skipIf(skip)("an unprivileged build container refuses hostile steps", () => {
  const driver = createLxcDriver({
    transport: createLocalTransport(),
    template: TEMPLATE,
    lxcPath: LXC_PATH,
  });
  let box: Sandbox;

  beforeAll(() => ensureBaseTemplate({ lxcPath: LXC_PATH }));
  // Each test has a container of its own: a fork bomb or a changed file never reaches the next.
  beforeEach(async () => {
    box = await driver.create({
      name: unique(),
      limits: { memoryBytes: 256 * MiB, pids: 64, cpus: 0.5 },
    });
  });
  afterEach(async () => {
    await box?.destroy();
  });

  test("root in the container is an unprivileged uid and gid on the host", async () => {
    expect((await sh(box, "id -u; id -g")).output).toBe("0\n0\n");
    const pid = spawnSync("lxc-info", ["-P", LXC_PATH, "-n", box.name, "-pH"]).stdout.toString().trim();
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const uid = rootSubidStart("/etc/subuid");
    const gid = rootSubidStart("/etc/subgid");
    expect(uid).toBeGreaterThan(0);
    expect(status).toMatch(new RegExp(`^Uid:\\t${uid}\\t${uid}\\t${uid}\\t${uid}$`, "m"));
    expect(status).toMatch(new RegExp(`^Gid:\\t${gid}\\t${gid}\\t${gid}\\t${gid}$`, "m"));
    // The host's files are not the container root's: /usr is nobody's, and stays unwritable.
    const usr = await sh(box, "stat -c '%U:%G' /usr; touch /usr/x");
    expect(usr.output).toBe("nobody:nogroup\ntouch: cannot touch '/usr/x': Read-only file system\n");
  });

  test("capabilities: only Docker's default set; no sys_admin, net_admin, sys_ptrace, syslog, perfmon, bpf", async () => {
    const r = await sh(box, "grep -E '^Cap(Eff|Bnd)' /proc/self/status");
    expect(r.output).toBe(`CapEff:\t${KEPT_CAPS}\nCapBnd:\t${KEPT_CAPS}\n`);
    for (const bit of Object.values(CAP)) expect((BigInt(`0x${KEPT_CAPS}`) >> BigInt(bit)) & 1n).toBe(0n);
  });

  test("the host's kernel log cannot be read", async () => {
    const r = await sh(box, "dmesg; cat /dev/kmsg");
    expect(r.output).toBe(
      "dmesg: read kernel buffer failed: Operation not permitted\ncat: /dev/kmsg: No such file or directory\n",
    );
    // Nor can the build lift the host's restriction.
    const w = await sh(box, "echo 0 > /proc/sys/kernel/dmesg_restrict");
    expect(w.output).toBe("sh: 1: cannot create /proc/sys/kernel/dmesg_restrict: Read-only file system\n");
  });

  test("no BPF maps, no system-wide perf events", async () => {
    // bpf(BPF_MAP_CREATE, {BPF_MAP_TYPE_ARRAY, 4, 4, 1}) and perf_event_open(cpu clock, pid -1, cpu 0), x86-64.
    const r = await sh(
      box,
      `perl -e '
        my $map = pack("LLLL", 2, 4, 4, 1) . ("\\0" x 56);
        print "bpf: ", syscall(321, 0, $map, length $map) == -1 ? "$!" : "created", "\\n";
        my $attr = pack("LLQ", 1, 128, 0) . ("\\0" x 112);
        print "perf: ", syscall(298, $attr, -1, 0, -1, 0) == -1 ? "$!" : "opened", "\\n";'`,
    );
    expect(r.output).toBe("bpf: Operation not permitted\nperf: Permission denied\n");
  });

  test("the build cannot raise its own limits: cgroup files are read-only, even from a new namespace", async () => {
    const r = await sh(
      box,
      [
        "cat /proc/self/cgroup | grep -c ':/$'",
        "echo 100000 > /sys/fs/cgroup/pids/pids.max",
        "echo -1 > /sys/fs/cgroup/memory/memory.limit_in_bytes",
        "echo -1 > /sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        "mount -o remount,rw /sys/fs/cgroup/pids 2>&1 | head -n 1",
        // A user namespace of its own may mount the pids hierarchy, but the files are not its root's.
        "unshare -UrmC sh -c 'mkdir -p /tmp/cg && mount -t cgroup -o pids none /tmp/cg && echo 100000 > /tmp/cg/pids.max'",
        "unshare -Urm mount -o remount,rw /usr 2>&1 | head -n 1",
        "true",
      ].join("\n"),
    );
    const cgroupNs = existsSync("/proc/self/ns/cgroup");
    expect(r.output.split("\n")).toEqual([
      // In a cgroup namespace every v1 hierarchy is at its root (9 on this layout); without one, 0.
      cgroupNs ? expect.stringMatching(/^[1-9]\d*$/) : "0",
      "sh: 2: cannot create /sys/fs/cgroup/pids/pids.max: Read-only file system",
      "sh: 3: cannot create /sys/fs/cgroup/memory/memory.limit_in_bytes: Read-only file system",
      "sh: 4: cannot create /sys/fs/cgroup/cpu/cpu.cfs_quota_us: Read-only file system",
      "mount: /sys/fs/cgroup/pids: permission denied.",
      "sh: 1: cannot create /tmp/cg/pids.max: Permission denied",
      "mount: /usr: permission denied.",
      "",
    ]);
    // The host still sees the limits it set.
    expect(hostCgroup(box.name, "pids.max")).toBe("64");
    expect(hostCgroup(box.name, "memory.limit_in_bytes")).toBe(String(256 * MiB));
    expect(hostCgroup(box.name, "cpu.cfs_quota_us")).toBe("50000");
  });

  test("pids: a fork bomb stops at the limit", async () => {
    const r = await sh(
      box,
      "i=0; while [ $i -lt 200 ]; do sleep 600 >/dev/null 2>&1 & i=$((i+1)); done; echo not reached",
    );
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/^sh: \d+: Cannot fork$/m);
    expect(r.output).not.toContain("not reached");
    expect(Number(hostCgroup(box.name, "pids.current"))).toBeLessThanOrEqual(64);
    expect(Number(hostCgroup(box.name, "pids.events").split(" ")[1])).toBeGreaterThan(0);
    await sh(box, "kill -KILL -1");
  });
});

describe.skipIf(skip)("the CPU quota holds", () => {
  const driver = createLxcDriver({
    transport: createLocalTransport(),
    template: TEMPLATE,
    lxcPath: LXC_PATH,
  });

  test("a busy loop is throttled to its quota", async () => {
    await ensureBaseTemplate({ lxcPath: LXC_PATH });
    // 1 ms per 100 ms period: exceeded by any busy loop, however loaded the machine.
    const box = await driver.create({ name: unique(), limits: { cpus: 0.01 } });
    try {
      expect(hostCgroup(box.name, "cpu.cfs_quota_us")).toBe("1000");
      const r = await sh(
        box,
        "timeout 2 sh -c 'while :; do :; done'; grep nr_throttled /sys/fs/cgroup/cpu/cpu.stat",
      );
      expect(Number(/^nr_throttled (\d+)$/m.exec(r.output)?.[1])).toBeGreaterThan(0);
    } finally {
      await box.destroy();
    }
  });
});

describe.skipIf(skip)("the writable layer has a size limit", () => {
  const driver = createLxcDriver({
    transport: createLocalTransport(),
    template: TEMPLATE,
    lxcPath: LXC_PATH,
  });

  test("writing past it fails with ENOSPC; destroying the sandbox removes its image and mount", async () => {
    await ensureBaseTemplate({ lxcPath: LXC_PATH });
    const box = await driver.create({ name: unique(), limits: { diskBytes: 64 * MiB } });
    const dir = `${LXC_PATH}/${box.name}`;
    try {
      const r = await sh(
        box,
        "head -c 100M /dev/zero > /root/big; echo rc=$?; echo small > /root/ok && cat /root/ok",
      );
      expect(r.output).toStartWith("head: error writing 'standard output': No space left on device\nrc=1\n");
      // The layer is full, not broken: removing the file frees it.
      const after = await sh(box, "rm /root/big; echo small > /root/ok && cat /root/ok");
      expect(after.output).toBe("small\n");
      expect(spawnSync("mountpoint", ["-q", `${dir}/overlay`]).status).toBe(0);
    } finally {
      await box.destroy();
    }
    expect(existsSync(dir)).toBe(false);
    const mounts = readFileSync("/proc/self/mountinfo", "utf8");
    expect(mounts).not.toContain(dir);
  });

  test("a nonsense disk limit is refused before anything is made", async () => {
    await expect(driver.create({ name: unique(), limits: { diskBytes: 1000 } })).rejects.toThrow(
      "limit diskBytes must be at least 16 MiB, got 1000",
    );
  });
});
