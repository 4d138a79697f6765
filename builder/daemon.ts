// The builder daemon: connects its hosts (reaping each one's orphaned sandboxes), then runs as many
// jobs at once as its up hosts have slots, each acquired from the server by long poll and placed
// on the least loaded host.
import { readFile } from "node:fs/promises";
import type { JobPayload } from "../protocol/index.ts";
import type { ServerClient } from "./client.ts";
import { createLxcDriver } from "./driver/lxc.ts";
import { ensureNatNetwork } from "./driver/lxc-network.ts";
import { createProcessDriver } from "./driver/process.ts";
import type { Driver, HostTransport } from "./driver/types.ts";
import { HostPool, type Placement } from "./hosts/pool.ts";
import {
  type BuilderIdentity,
  type HostConfig,
  hostsOf,
  imageSettings,
  type TransportConfig,
} from "./identity.ts";
import { ImageStore } from "./images/store.ts";
import { runJob } from "./job-runner.ts";
import { describeLimits, limitsFor, resolveResourceClasses } from "./resources.ts";
import { backoff, sleep } from "./retryable.ts";
import { SshRegistry } from "./ssh-registry.ts";
import { startSshServer } from "./ssh-server.ts";
import { createLocalTransport } from "./transport/local.ts";
import { createSshTransport } from "./transport/ssh.ts";

export async function openTransport(t: TransportConfig): Promise<HostTransport> {
  if (t.kind === "local") return createLocalTransport();
  return createSshTransport({
    host: t.host,
    port: t.port,
    username: t.username,
    privateKey: await readFile(t.private_key_file, "utf8"),
    hostKey: t.host_key,
  });
}

/**
 * `auto` picks LXC when the host can run it, else the unsandboxed process driver (on this machine
 * only). With several hosts every one must run LXC.
 */
export async function chooseDriver(
  id: BuilderIdentity,
  host: HostConfig,
  transport: HostTransport,
  single = true,
  goneOwners?: (owners: string[]) => Promise<string[]>,
): Promise<Driver> {
  const lxc = createLxcDriver({
    transport,
    template: id.template ?? "cairn-base",
    lxcPath: host.lxc_path,
    network: id.network,
    // Sandboxes carry this builder's id: on a shared host its reaper leaves other builders' alone.
    owner: id.builder_id,
    goneOwners,
  });
  if (id.driver === "lxc" || !single) {
    await lxc.check();
    return lxc;
  }
  if (id.driver === "auto") {
    try {
      await lxc.check();
      return lxc;
    } catch (err) {
      console.error(`cairn-builder: LXC unavailable (${(err as Error).message}); jobs will run UNSANDBOXED`);
    }
  }
  if (transport.kind !== "local") {
    throw new Error(
      "the process driver runs jobs on this machine: use it with the local transport, or fix LXC on the fleet host",
    );
  }
  return createProcessDriver({ owner: id.builder_id });
}

export interface Daemon {
  stop(): Promise<void>;
  done: Promise<void>;
}

export async function startDaemon(id: BuilderIdentity, client: ServerClient): Promise<Daemon> {
  // Checked before any host is touched: a class that does not resolve stops the builder here.
  const classes = resolveResourceClasses(id.resource_classes);
  const configs = hostsOf(id);
  const single = configs.length === 1;
  // One image store per LXC host: images are pulled and unpacked where the containers run.
  const imageStores = new WeakMap<HostTransport, ImageStore>();
  const settings = imageSettings(id);
  const pool = new HostPool(configs, {
    memoryMb: id.memory_mb,
    classes,
    log: (msg) => console.log(`cairn-builder: ${msg}`),
    async connect(host, previous) {
      const transport = previous?.transport ?? (await openTransport(host.transport));
      try {
        const driver = await chooseDriver(id, host, transport, single, (ids) => client.goneBuilders(ids));
        if (driver.kind === "lxc" && id.network) await ensureNatNetwork(transport, id.network);
        if (driver.kind === "lxc")
          imageStores.set(
            transport,
            new ImageStore(transport, settings, {
              lxcPath: host.lxc_path,
              baseTemplate: id.template ?? "cairn-base",
            }),
          );
        return { transport, driver };
      } catch (err) {
        if (!previous) await transport.close();
        throw err;
      }
    },
  });
  await pool.start();
  const kinds = new Set(pool.hosts.map((h) => h.conn?.driver.kind ?? "lxc"));
  const driverKind = kinds.has("process") ? "process" : "lxc";
  const network =
    driverKind === "process"
      ? ""
      : id.network
        ? `, ${id.network.mode} network on ${id.network.bridge} (egress only)`
        : ", no network (loopback only)";
  console.log(
    `cairn-builder ${id.name}: ${pool.slots} slot(s) on ${pool.hosts.length} host(s) ` +
      `[${pool.hosts.map((h) => `${h.label}: ${h.config.slots} ${h.state}`).join(", ")}], ` +
      `${driverKind} driver${network}, polling ${id.server}`,
  );
  for (const name of Object.keys(id.resource_classes ?? {})) {
    const none = classes[name].network === "none" ? ", no network (loopback only)" : "";
    console.log(`cairn-builder: resource class ${name}: ${describeLimits(limitsFor(name, classes))}${none}`);
  }
  const stopping = new AbortController();
  const ssh = await startSsh(id, client);
  const running = new Set<Promise<void>>();

  const run = async (payload: JobPayload, placed: Placement | null) => {
    const where = placed?.host.label ?? "no host";
    console.log(
      `cairn-builder: job ${payload.job.name} (${payload.job.id}, ${payload.resource_class}) runs on ${where}`,
    );
    try {
      const status = await runJob(
        {
          client,
          driver: placed?.driver ?? unavailable(`no host of this builder can take it: ${pool.describe()}`),
          transport: placed?.transport ?? createLocalTransport(),
          boxSecretKey: id.box_secret_key,
          images: placed ? imageStores.get(placed.transport) : undefined,
          classes,
          log: console.error,
          ssh: ssh ?? undefined,
        },
        payload,
      );
      console.log(`cairn-builder: job ${payload.job.id} ${status} on ${where}`);
    } catch (err) {
      console.error(`cairn-builder: job ${payload.job.id}: ${(err as Error).message}`);
    } finally {
      placed?.release();
    }
  };

  // One request at a time, made only while some host has a free slot, naming the classes that fit.
  const acquireLoop = async () => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        await pool.whenFree(stopping.signal);
        if (stopping.signal.aborted) break;
        const classes = pool.fitting();
        if (classes.length === 0) {
          await sleep(1000, stopping.signal);
          continue;
        }
        const payload = await client.acquire(
          {
            free_slots: 1,
            driver: driverKind,
            resource_classes: classes,
            ...(ssh ? { ssh_endpoint: ssh.endpoint } : {}),
          },
          stopping.signal,
        );
        failures = 0;
        if (!payload) continue;
        const placed = await pool.place(payload.resource_class);
        const job = run(payload, placed).finally(() => running.delete(job));
        running.add(job);
      } catch (err) {
        if (stopping.signal.aborted) break;
        console.error(`cairn-builder: ${(err as Error).message}`);
        await sleep(backoff(failures++), stopping.signal);
      }
    }
  };
  const done = acquireLoop().then(async () => {
    while (running.size) await Promise.all(running);
    await ssh?.server.close();
    await pool.stop();
  });
  return {
    done,
    async stop() {
      stopping.abort();
      await done;
    },
  };
}

/** The driver a granted job gets when no host can take it: the job fails saying why. */
function unavailable(why: string): Driver {
  const fail = async (): Promise<never> => {
    throw new Error(why);
  };
  return { kind: "lxc", check: fail, create: fail, reapOrphans: async () => [] };
}

/** The SSH server for SSH into builds, when the identity asks for one. */
async function startSsh(id: BuilderIdentity, client: ServerClient) {
  if (!id.ssh_listen || !id.ssh_host_key) return null;
  const at = id.ssh_listen.lastIndexOf(":");
  const host = id.ssh_listen.slice(0, at);
  const registry = new SshRegistry();
  const server = await startSshServer(
    {
      hostKey: id.ssh_host_key,
      authorize: async (jobId, fingerprint) => (await client.sshAuthorize(jobId, fingerprint))?.user ?? null,
      recheck: (asks, signal) => client.sshRecheck(asks, signal),
      confirmWithinMs: id.ssh_confirm_within_s !== undefined ? id.ssh_confirm_within_s * 1000 : undefined,
      sandboxFor: (jobId) => registry.sandboxFor(jobId),
      sessionEvent(jobId, user, event, reason) {
        registry.session(jobId, event);
        if (reason === "unconfirmed")
          console.error(
            `cairn-builder: ended ${user.login}'s SSH session into job ${jobId}: the server did not confirm their access in time`,
          );
        // Audited by the server: a report that cannot get through (the server unreachable, the
        // reason a session ended unconfirmed) is sent again for a few minutes.
        const report = { event, user_id: user.id, ...(reason ? { reason } : {}) };
        client
          .retrying(() => client.sshSession(jobId, report), undefined, 30)
          .catch((err) => console.error(`cairn-builder: SSH session report: ${err.message}`));
      },
    },
    { host, port: Number(id.ssh_listen.slice(at + 1)) },
  );
  const endpoint = `${id.ssh_advertise ?? host}:${server.port}`;
  console.log(`cairn-builder: SSH into builds on ${endpoint}`);
  return { registry, server, endpoint };
}
