// Resource-class limits as cgroup settings, for whichever cgroup layout the fleet host runs.

import type { SandboxLimits } from "./types.ts";

const PERIOD_US = 100_000;

/**
 * `lxc-cgroup` key/value pairs. The memsw/swap keys come last and are optional: they exist only
 * when the kernel accounts swap.
 */
export function cgroupSettings(
  limits: SandboxLimits,
  unified: boolean,
): { key: string; value: string; optional?: boolean }[] {
  const out: { key: string; value: string; optional?: boolean }[] = [];
  if (limits.memoryBytes !== undefined) {
    const bytes = String(Math.floor(positive(limits.memoryBytes, "memoryBytes")));
    if (unified) {
      out.push({ key: "memory.max", value: bytes }, { key: "memory.swap.max", value: "0", optional: true });
    } else {
      out.push(
        { key: "memory.limit_in_bytes", value: bytes },
        { key: "memory.memsw.limit_in_bytes", value: bytes, optional: true },
      );
    }
  }
  if (limits.cpus !== undefined) {
    const quota = String(Math.max(1_000, Math.round(positive(limits.cpus, "cpus") * PERIOD_US)));
    if (unified) out.push({ key: "cpu.max", value: `${quota} ${PERIOD_US}` });
    else
      out.push(
        { key: "cpu.cfs_period_us", value: String(PERIOD_US) },
        { key: "cpu.cfs_quota_us", value: quota },
      );
  }
  if (limits.pids !== undefined) {
    out.push({ key: "pids.max", value: String(Math.floor(positive(limits.pids, "pids"))) });
  }
  return out;
}

/** The smallest writable layer mkfs.ext4 makes without complaint. */
export const MIN_DISK = 16 * 1024 * 1024;

/** A disk limit as whole bytes, refused below what an ext4 layer can hold. */
export function diskBytes(n: number): number {
  const bytes = Math.floor(positive(n, "diskBytes"));
  if (bytes < MIN_DISK)
    throw new Error(`limit diskBytes must be at least ${formatBytes(MIN_DISK)}, got ${n}`);
  return bytes;
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new Error(`limit ${what} must be a positive number, got ${n}`);
  return n;
}

/** `oom_kill N` from cgroup v2 memory.events or v1 memory.oom_control (kernel 4.13+). */
export function parseOomKills(text: string): number | undefined {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

export function formatBytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1 && n % 1024 === 0) {
    n /= 1024;
    i++;
  }
  return `${n} ${units[i]}`;
}
