// The LXC hosts one daemon drives, each with its own connection, driver and slots. A job slice goes
// to the least loaded host with a free slot. A host whose connection fails is marked down: its
// slots are withdrawn, its reconnect is retried with backoff, and the other hosts carry on.
import { sandboxName } from "../driver/sandbox-name.ts";
import type { Driver, HostTransport } from "../driver/types.ts";
import type { HostConfig } from "../identity.ts";
import { Capacity, DEFAULT_CLASS, type ResourceClasses } from "../resources.ts";
import { backoff, sleep } from "../retryable.ts";
import { hostLabel } from "./spec.ts";

export interface HostConnection {
  transport: HostTransport;
  driver: Driver;
}

export interface PoolOptions {
  /**
   * Opens (or re-checks) a host: its transport and a checked driver. `previous` is the host's
   * last connection, to reuse: the ssh transport reconnects by itself on its next command.
   */
  connect(host: HostConfig, previous?: HostConnection): Promise<HostConnection>;
  log?: (msg: string) => void;
  /** Memory (MiB) of a host without its own `memory_mb`. */
  memoryMb?: number;
  /** The builder's resource classes (default CircleCI's). */
  classes?: ResourceClasses;
  /** How often an up host is checked (one `true` over its connection). */
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  /** Reconnect backoff of a down host: base and cap. */
  retryBaseMs?: number;
  retryCapMs?: number;
  /** How long a granted job waits for a host when every host with room went down meanwhile. */
  placeTimeoutMs?: number;
}

export type HostState = "connecting" | "up" | "down";

export class FleetHost {
  state: HostState = "connecting";
  conn?: HostConnection;
  running = 0;
  failures = 0;
  lastError?: string;
  /** Sandboxes this daemon has on the host: a reconnect's orphan reaper keeps them. */
  readonly live = new Set<string>();
  readonly label: string;
  readonly capacity: Capacity;

  constructor(
    readonly config: HostConfig,
    memoryMb?: number,
    classes?: ResourceClasses,
  ) {
    this.label = hostLabel(config);
    this.capacity = new Capacity(config.memory_mb ?? memoryMb, classes);
  }

  /** Slots that may take a job now: none while the host is not up. */
  get free(): number {
    return this.state === "up" ? Math.max(0, this.config.slots - this.running) : 0;
  }
}

export interface Placement {
  host: FleetHost;
  transport: HostTransport;
  driver: Driver;
  /** Gives the slot (and the class's memory) back; idempotent. */
  release(): void;
}

export class HostPool {
  readonly hosts: FleetHost[];
  private readonly stopping = new AbortController();
  private readonly watchers: Promise<void>[] = [];
  private waiters = new Set<() => void>();

  constructor(
    configs: HostConfig[],
    private readonly opts: PoolOptions,
  ) {
    if (configs.length === 0) throw new Error("a builder needs at least one host");
    this.hosts = configs.map((c) => new FleetHost(c, opts.memoryMb, opts.classes));
  }

  /**
   * Connects every host at once and reaps its orphans. Fails only when no host came up (a
   * misconfigured builder says so at once); hosts that are down are retried in the background.
   */
  async start(): Promise<void> {
    const up = await Promise.all(
      this.hosts.map((h) =>
        this.bringUp(h).then(
          () => true,
          (err) => {
            this.markDown(h, err);
            return false;
          },
        ),
      ),
    );
    if (!up.some(Boolean)) {
      throw new Error(
        this.hosts.length === 1
          ? (this.hosts[0].lastError ?? "the host is unavailable")
          : `no host is available: ${this.hosts.map((h) => `${h.label}: ${h.lastError}`).join("; ")}`,
      );
    }
    for (const h of this.hosts) this.watchers.push(this.watch(h));
  }

  get slots(): number {
    return this.hosts.reduce((n, h) => n + h.config.slots, 0);
  }

  freeSlots(): number {
    return this.hosts.reduce((n, h) => n + h.free, 0);
  }

  /** Resource classes some up host with a free slot could take now. */
  fitting(): string[] {
    const out = new Set<string>();
    for (const h of this.hosts) if (h.free > 0) for (const c of h.capacity.fitting()) out.add(c);
    return [...out];
  }

  /** Resolves once some host has a free slot (or the pool stops). */
  async whenFree(signal?: AbortSignal): Promise<void> {
    while (this.freeSlots() === 0 && !signal?.aborted && !this.stopping.signal.aborted) {
      await this.changed(signal);
    }
  }

  /**
   * A slot for a granted job: the least loaded up host that has room and fits its class, checked
   * with one command first. Null when no host could take it within `placeTimeoutMs`.
   */
  async place(resourceClass: string | undefined, signal?: AbortSignal): Promise<Placement | null> {
    const rc = resourceClass ?? DEFAULT_CLASS;
    const deadline = Date.now() + (this.opts.placeTimeoutMs ?? 30_000);
    while (!signal?.aborted) {
      const open = this.hosts.filter((h) => h.free > 0);
      const fits = open.filter((h) => h.capacity.fitting().includes(rc));
      const order = (fits.length ? fits : open).sort(
        (a, b) => a.running / a.config.slots - b.running / b.config.slots || a.running - b.running,
      );
      for (const h of order) {
        const conn = h.conn;
        if (!conn || h.free === 0) continue;
        // Reserve before the check, so a second placement meanwhile cannot take the same slot.
        h.running++;
        const releaseMemory = h.capacity.reserve(rc);
        let released = false;
        const release = () => {
          if (released) return;
          released = true;
          h.running--;
          releaseMemory();
          this.notify();
        };
        try {
          await this.probe(h);
          return { host: h, transport: conn.transport, driver: conn.driver, release };
        } catch (err) {
          release();
          this.markDown(h, err);
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await Promise.race([this.changed(signal), sleep(Math.min(1_000, left), signal)]);
    }
    return null;
  }

  /** Why no host can take a job, for the job's failure reason. */
  describe(): string {
    return this.hosts
      .map((h) => `${h.label}: ${h.state}${h.lastError ? ` (${h.lastError})` : ""}`)
      .join("; ");
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.notify();
    await Promise.all(this.watchers);
    await Promise.all(this.hosts.map((h) => h.conn?.transport.close().catch(() => {})));
  }

  private async bringUp(h: FleetHost): Promise<void> {
    const conn = await this.opts.connect(h.config, h.conn);
    const driver = h.conn?.driver ?? tracking(conn.driver, h.live);
    h.conn = { transport: conn.transport, driver };
    const reaped = await driver.reapOrphans(new Set());
    if (reaped.length) this.opts.log?.(`${h.label}: removed orphaned sandboxes ${reaped.join(", ")}`);
    const was = h.state;
    h.state = "up";
    h.failures = 0;
    h.lastError = undefined;
    if (was === "down")
      this.opts.log?.(`${h.label}: host is back; its ${h.config.slots} slot(s) take jobs again`);
    this.notify();
  }

  private markDown(h: FleetHost, err: unknown): void {
    h.lastError = (err as Error).message ?? String(err);
    if (h.state !== "down") {
      this.opts.log?.(
        `${h.label}: host unavailable (${h.lastError}); its ${h.config.slots} slot(s) are withdrawn, reconnecting`,
      );
    }
    h.state = "down";
    this.notify();
  }

  /** Checks an up host every few seconds; reconnects a down one with backoff. */
  private async watch(h: FleetHost): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      if (h.state === "up") {
        await sleep(this.opts.probeIntervalMs ?? 5_000, signal);
        if (signal.aborted || h.state !== "up") continue;
        await this.probe(h).catch((err) => this.markDown(h, err));
      } else {
        await sleep(
          backoff(h.failures++, this.opts.retryBaseMs ?? 1_000, this.opts.retryCapMs ?? 30_000),
          signal,
        );
        if (signal.aborted) break;
        await this.bringUp(h).catch((err) => {
          h.lastError = (err as Error).message;
        });
      }
    }
  }

  private async probe(h: FleetHost): Promise<void> {
    if (!h.conn) throw new Error("not connected");
    const ms = this.opts.probeTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    });
    try {
      const r = await Promise.race([h.conn.transport.exec(["true"]), timeout]);
      if (r.code !== 0) throw new Error(`\`true\` exited ${r.code} on the host`);
    } finally {
      clearTimeout(timer);
    }
  }

  private changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  private notify(): void {
    const waiting = [...this.waiters];
    this.waiters = new Set();
    for (const w of waiting) w();
  }
}

/** Records the host's live sandboxes, so a reconnect's orphan reaper leaves running jobs alone. */
function tracking(driver: Driver, live: Set<string>): Driver {
  return {
    kind: driver.kind,
    check: () => driver.check(),
    reapOrphans: (keep) => driver.reapOrphans(new Set([...keep, ...live])),
    async create(opts) {
      const name = sandboxName(opts.name);
      live.add(name);
      try {
        const sandbox = await driver.create(opts);
        const destroy = () => sandbox.destroy().finally(() => live.delete(name));
        return Object.assign(Object.create(sandbox), { destroy });
      } catch (err) {
        live.delete(name);
        throw err;
      }
    },
  };
}
