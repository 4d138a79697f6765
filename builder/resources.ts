// Resource classes: what a job's `resource_class` means on this builder (cgroup limits for its
// container) and which classes still fit beside the jobs already running. Memory is reserved
// (a job gets what its class promises); CPU is a cgroup quota per container, shared, not reserved.
import { availableParallelism, totalmem } from "node:os";
import { formatBytes } from "./driver/lxc-limits.ts";
import type { SandboxLimits } from "./driver/types.ts";

export interface ResourceClass {
  cpus: number;
  memoryMb: number;
}

/** CircleCI's Linux classes; `medium` is what a job without `resource_class` gets. */
export const RESOURCE_CLASSES: Record<string, ResourceClass> = {
  small: { cpus: 1, memoryMb: 2048 },
  medium: { cpus: 2, memoryMb: 4096 },
  "medium+": { cpus: 3, memoryMb: 6144 },
  large: { cpus: 4, memoryMb: 8192 },
  xlarge: { cpus: 8, memoryMb: 16384 },
  "2xlarge": { cpus: 16, memoryMb: 32768 },
};
export const DEFAULT_CLASS = "medium";
const PIDS_PER_SANDBOX = 4096;
/** The writable layer of every sandbox (a sparse image: only what a build writes takes host disk). */
const DISK_PER_SANDBOX = 20 * 1024 ** 3;

export function limitsFor(name: string | undefined): SandboxLimits {
  const rc = RESOURCE_CLASSES[name ?? DEFAULT_CLASS] ?? RESOURCE_CLASSES[DEFAULT_CLASS];
  return {
    cpus: rc.cpus,
    memoryBytes: rc.memoryMb * 1024 * 1024,
    pids: PIDS_PER_SANDBOX,
    diskBytes: DISK_PER_SANDBOX,
  };
}

/** The limits as the job's log states them: `2 CPUs, 4 GiB memory, 4096 processes, 20 GiB disk`. */
export function describeLimits(l: SandboxLimits): string {
  return [
    l.cpus !== undefined && `${l.cpus} CPU${l.cpus === 1 ? "" : "s"}`,
    l.memoryBytes !== undefined && `${formatBytes(l.memoryBytes)} memory`,
    l.pids !== undefined && `${l.pids} processes`,
    l.diskBytes !== undefined && `${formatBytes(l.diskBytes)} disk`,
  ]
    .filter(Boolean)
    .join(", ");
}

/** Memory this builder may hand out to its jobs, and what is handed out now. */
export class Capacity {
  private reserved = 0;

  constructor(readonly memoryMb = Math.floor(totalmem() / 1024 / 1024)) {}

  /**
   * Classes a new job could have now: what the server may grant this builder. An idle builder
   * takes any class (its container is limited to the class, the host just has less), so a job
   * bigger than every builder still runs somewhere instead of waiting for ever.
   */
  fitting(): string[] {
    if (this.reserved === 0) return Object.keys(RESOURCE_CLASSES);
    return Object.entries(RESOURCE_CLASSES)
      .filter(([, rc]) => rc.memoryMb <= this.memoryMb - this.reserved)
      .map(([name]) => name);
  }

  reserve(name: string | undefined): () => void {
    const mb = (RESOURCE_CLASSES[name ?? DEFAULT_CLASS] ?? RESOURCE_CLASSES[DEFAULT_CLASS]).memoryMb;
    this.reserved += mb;
    let released = false;
    return () => {
      if (!released) this.reserved -= mb;
      released = true;
    };
  }
}

/**
 * Slots for a builder on this machine: one job per core, as long as each still gets the memory of
 * the default class (`medium`), and at least one. `--slots auto` and `npm start` use it.
 */
export function autoSlots(
  cores = availableParallelism(),
  memoryMb = Math.floor(totalmem() / 1024 / 1024),
): number {
  const byMemory = Math.floor(memoryMb / RESOURCE_CLASSES[DEFAULT_CLASS].memoryMb);
  return Math.max(1, Math.min(cores, byMemory, 256));
}

/** `--slots N` or `--slots auto`; undefined when the text is neither (the caller says why). */
export function parseSlots(text: string): number | undefined {
  if (text === "auto") return autoSlots();
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= 256 ? n : undefined;
}
