// Resource classes: what a job's `resource_class` means on this builder (cgroup limits and the
// writable layer's size for its container) and which classes still fit beside the jobs already
// running. Memory is reserved (a job gets what its class promises); CPU is a cgroup quota per
// container, shared, not reserved. The operator may redefine CircleCI's classes and add their own
// (`--resource-classes FILE`, the identity's `resource_classes`).
import { readFileSync } from "node:fs";
import { availableParallelism, totalmem } from "node:os";
import { parse as parseYaml } from "yaml";
import { diskBytes, formatBytes, MIN_DISK } from "./driver/lxc-limits.ts";
import type { SandboxLimits } from "./driver/types.ts";

export interface ResourceClass {
  cpus: number;
  memoryBytes: number;
  pids: number;
  /** The writable layer (a sparse image: only what a build writes takes host disk). */
  diskBytes: number;
  /** `none`: the class's containers get loopback only, even on a builder with the NAT bridge. */
  network?: "none";
}
export type ResourceClasses = Readonly<Record<string, ResourceClass>>;

/** One class as the operator writes it: sizes as bytes or `"8GiB"`; omitted fields keep the defaults. */
export interface ResourceClassSpec {
  cpus?: number;
  memory?: number | string;
  pids?: number;
  disk?: number | string;
  network?: "none";
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const PIDS = 4096;
const DISK = 20 * GiB;
const circle = (cpus: number, memoryGiB: number): ResourceClass => ({
  cpus,
  memoryBytes: memoryGiB * GiB,
  pids: PIDS,
  diskBytes: DISK,
});

/** CircleCI's Linux classes; `medium` is what a job without `resource_class` gets. */
export const RESOURCE_CLASSES: ResourceClasses = {
  small: circle(1, 2),
  medium: circle(2, 4),
  "medium+": circle(3, 6),
  large: circle(4, 8),
  xlarge: circle(8, 16),
  "2xlarge": circle(16, 32),
};
export const DEFAULT_CLASS = "medium";

/** The class a job runs with: its own, or `medium` for none (and for one this builder lacks). */
export function classOf(name: string | undefined, classes = RESOURCE_CLASSES): ResourceClass {
  return classes[name ?? DEFAULT_CLASS] ?? classes[DEFAULT_CLASS] ?? RESOURCE_CLASSES[DEFAULT_CLASS];
}

export function limitsFor(name: string | undefined, classes = RESOURCE_CLASSES): SandboxLimits {
  const rc = classOf(name, classes);
  return { cpus: rc.cpus, memoryBytes: rc.memoryBytes, pids: rc.pids, diskBytes: rc.diskBytes };
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

export class ResourceClassError extends Error {
  readonly code = "bad_resource_classes";
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}(\/[A-Za-z0-9][A-Za-z0-9._+-]{0,63})?$/;
const FIELDS = ["cpus", "memory", "pids", "disk", "network"];
/** A bare number is bytes: a floor catches `"memory": 4096` meant as MiB. */
const MIN_MEMORY = 16 * MiB;
/** cgroup CPU quotas are 1 ms per 100 ms period at least. */
const MIN_CPUS = 0.01;
const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB, GiB, TiB: 1024 * GiB };

/** `8GiB`, `512 MiB`, `1.5GiB` or a whole number of bytes. */
export function parseSize(v: unknown, what: string): number {
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v <= 0)
      throw new ResourceClassError(`${what} must be a positive whole number of bytes, got ${v}`);
    return v;
  }
  const m = typeof v === "string" ? /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?$/.exec(v.trim()) : null;
  if (!m)
    throw new ResourceClassError(
      `${what} ${JSON.stringify(v)} is not a size: give bytes, or a number with B, KiB, MiB, GiB or TiB ("8GiB")`,
    );
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2] ?? "B"]);
  if (bytes <= 0) throw new ResourceClassError(`${what} must be positive, got ${JSON.stringify(v)}`);
  return bytes;
}

/**
 * The builder's classes: CircleCI's, with the operator's `specs` over them. A spec for one of
 * CircleCI's names keeps that class's values for the fields it leaves out; a new name needs `cpus`
 * and `memory` (`pids` defaults to 4096, `disk` to 20 GiB). Anything wrong throws, naming the class.
 */
export function resolveResourceClasses(specs: unknown): ResourceClasses {
  if (specs === undefined || specs === null) return RESOURCE_CLASSES;
  if (typeof specs !== "object" || Array.isArray(specs))
    throw new ResourceClassError(
      'resource classes must be an object of class name → {cpus, memory, pids, disk, network}, e.g. {"acme/big-disk": {"cpus": 2, "memory": "4GiB", "disk": "100GiB"}}',
    );
  const out: Record<string, ResourceClass> = { ...RESOURCE_CLASSES };
  for (const [name, spec] of Object.entries(specs)) {
    if (!NAME.test(name))
      throw new ResourceClassError(
        `resource class ${JSON.stringify(name)}: a name is letters, digits and . _ + -, optionally namespace/name (e.g. acme/big-disk)`,
      );
    out[name] = resolveClass(name, spec, RESOURCE_CLASSES[name]);
  }
  return out;
}

function resolveClass(name: string, spec: unknown, base: ResourceClass | undefined): ResourceClass {
  const fail = (msg: string): never => {
    throw new ResourceClassError(`resource class ${name}: ${msg}`);
  };
  if (typeof spec !== "object" || spec === null || Array.isArray(spec))
    return fail('must be an object such as {"cpus": 2, "memory": "4GiB"}');
  const s = spec as Record<string, unknown>;
  for (const key of Object.keys(s))
    if (!FIELDS.includes(key))
      fail(`unknown field ${JSON.stringify(key)} (the fields are ${FIELDS.join(", ")})`);
  if (!base)
    for (const key of ["cpus", "memory"])
      if (s[key] === undefined) fail(`needs ${key} (only CircleCI's own class names may leave it out)`);
  const size = (v: unknown, what: string) => {
    try {
      return parseSize(v, what);
    } catch (err) {
      return fail((err as Error).message);
    }
  };
  // `null` is a value given (and refused), not a field left out.
  const cpus = s.cpus !== undefined ? s.cpus : base?.cpus;
  if (typeof cpus !== "number" || !Number.isFinite(cpus) || cpus < MIN_CPUS)
    fail(`cpus must be a number, at least ${MIN_CPUS}, got ${JSON.stringify(cpus)}`);
  const memoryBytes = s.memory === undefined ? base!.memoryBytes : size(s.memory, "memory");
  if (memoryBytes < MIN_MEMORY)
    fail(
      `memory must be at least ${formatBytes(MIN_MEMORY)}, got ${JSON.stringify(s.memory)} (a bare number is bytes)`,
    );
  const pids = s.pids !== undefined ? s.pids : (base?.pids ?? PIDS);
  if (typeof pids !== "number" || !Number.isInteger(pids) || pids < 1)
    fail(`pids must be a whole number, at least 1, got ${JSON.stringify(pids)}`);
  const disk = s.disk === undefined ? (base?.diskBytes ?? DISK) : size(s.disk, "disk");
  if (disk < MIN_DISK)
    fail(`disk must be at least ${formatBytes(MIN_DISK)} (an ext4 layer), got ${JSON.stringify(s.disk)}`);
  if (s.network !== undefined && s.network !== "none")
    fail(`network can only be "none" (loopback only); leave it out for the builder's own network`);
  return {
    cpus: cpus as number,
    memoryBytes,
    pids: pids as number,
    diskBytes: diskBytes(disk), // the driver's own check: both agree on what a layer may be
    ...(s.network === "none" ? { network: "none" as const } : {}),
  };
}

/**
 * `--resource-classes FILE`: JSON, or YAML when the name ends in `.yaml`/`.yml`. Returns the
 * operator's specs (what the identity stores) once they resolve; throws saying what is wrong.
 */
export function readResourceClasses(path: string): Record<string, ResourceClassSpec> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ResourceClassError(`${path}: ${(err as Error).message}`);
  }
  const yaml = /\.ya?ml$/i.test(path);
  let specs: unknown;
  try {
    specs = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new ResourceClassError(`${path} is not valid ${yaml ? "YAML" : "JSON"}: ${(err as Error).message}`);
  }
  try {
    resolveResourceClasses(specs ?? {});
  } catch (err) {
    throw new ResourceClassError(`${path}: ${(err as Error).message}`);
  }
  return (specs ?? {}) as Record<string, ResourceClassSpec>;
}

/** Memory this builder may hand out to its jobs, and what is handed out now. */
export class Capacity {
  private reserved = 0;

  constructor(
    readonly memoryMb = Math.floor(totalmem() / MiB),
    private readonly classes = RESOURCE_CLASSES,
  ) {}

  /**
   * Classes a new job could have now: what the server may grant this builder. An idle builder
   * takes any class (its container is limited to the class, the host just has less), so a job
   * bigger than every builder still runs somewhere instead of waiting for ever.
   */
  fitting(): string[] {
    if (this.reserved === 0) return Object.keys(this.classes);
    return Object.entries(this.classes)
      .filter(([, rc]) => rc.memoryBytes / MiB <= this.memoryMb - this.reserved)
      .map(([name]) => name);
  }

  reserve(name: string | undefined): () => void {
    const mb = classOf(name, this.classes).memoryBytes / MiB;
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
export function autoSlots(cores = availableParallelism(), memoryMb = Math.floor(totalmem() / MiB)): number {
  const byMemory = Math.floor(memoryMb / (RESOURCE_CLASSES[DEFAULT_CLASS].memoryBytes / MiB));
  return Math.max(1, Math.min(cores, byMemory, 256));
}

/** `--slots N` or `--slots auto`; undefined when the text is neither (the caller says why). */
export function parseSlots(text: string): number | undefined {
  if (text === "auto") return autoSlots();
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= 256 ? n : undefined;
}
