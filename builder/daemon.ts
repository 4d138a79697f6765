// The builder daemon: reaps orphaned sandboxes, then runs up to `slots` jobs at once, each
// acquired from the server by long poll.
import { readFile } from "node:fs/promises";
import type { ServerClient } from "./client.ts";
import { createLxcDriver } from "./driver/lxc.ts";
import { createProcessDriver } from "./driver/process.ts";
import type { Driver, HostTransport } from "./driver/types.ts";
import type { BuilderIdentity } from "./identity.ts";
import { runJob } from "./job-runner.ts";
import { Capacity } from "./resources.ts";
import { backoff, sleep } from "./retryable.ts";
import { SshRegistry } from "./ssh-registry.ts";
import { startSshServer } from "./ssh-server.ts";
import { createLocalTransport } from "./transport/local.ts";
import { createSshTransport } from "./transport/ssh.ts";

export async function openTransport(id: BuilderIdentity): Promise<HostTransport> {
  if (id.transport.kind === "local") return createLocalTransport();
  const t = id.transport;
  return createSshTransport({
    host: t.host,
    port: t.port,
    username: t.username,
    privateKey: await readFile(t.private_key_file, "utf8"),
    hostKey: t.host_key,
  });
}

/** `auto` picks LXC when the host can run it, else the unsandboxed process driver. */
export async function chooseDriver(id: BuilderIdentity, transport: HostTransport): Promise<Driver> {
  const lxc = createLxcDriver({ transport, template: id.template ?? "cairn-base", lxcPath: id.lxc_path });
  if (id.driver === "lxc") {
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
  return createProcessDriver();
}

export interface Daemon {
  stop(): Promise<void>;
  done: Promise<void>;
}

export async function startDaemon(id: BuilderIdentity, client: ServerClient): Promise<Daemon> {
  const transport = await openTransport(id);
  const driver = await chooseDriver(id, transport);
  const reaped = await driver.reapOrphans(new Set());
  if (reaped.length) console.log(`cairn-builder: removed orphaned sandboxes ${reaped.join(", ")}`);
  console.log(
    `cairn-builder ${id.name}: ${id.slots} slot(s), ${driver.kind} driver, ${transport.kind} transport, polling ${id.server}`,
  );
  const stopping = new AbortController();
  const ssh = await startSsh(id, client);
  const capacity = new Capacity(id.memory_mb);
  // One slot asks at a time, so each request names the classes that fit beside what runs already.
  let asking: Promise<unknown> = Promise.resolve();
  const acquireFitting = () => {
    const turn = asking.then(async () => {
      const classes = capacity.fitting();
      if (classes.length === 0) {
        await sleep(1000, stopping.signal);
        return null;
      }
      const payload = await client.acquire(
        {
          free_slots: 1,
          driver: driver.kind,
          resource_classes: classes,
          ...(ssh ? { ssh_endpoint: ssh.endpoint } : {}),
        },
        stopping.signal,
      );
      return payload ? { payload, release: capacity.reserve(payload.resource_class) } : null;
    });
    asking = turn.catch(() => {});
    return turn;
  };
  const worker = async (slot: number) => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        const granted = await acquireFitting();
        failures = 0;
        if (!granted) continue;
        const { payload, release } = granted;
        console.log(
          `cairn-builder: slot ${slot} runs job ${payload.job.name} (${payload.job.id}, ${payload.resource_class})`,
        );
        try {
          const status = await runJob(
            {
              client,
              driver,
              transport,
              boxSecretKey: id.box_secret_key,
              log: console.error,
              ssh: ssh ?? undefined,
            },
            payload,
          );
          console.log(`cairn-builder: job ${payload.job.id} ${status}`);
        } finally {
          release();
        }
      } catch (err) {
        if (stopping.signal.aborted) break;
        console.error(`cairn-builder: ${(err as Error).message}`);
        await sleep(backoff(failures++), stopping.signal);
      }
    }
  };
  const done = Promise.all(Array.from({ length: id.slots }, (_, i) => worker(i))).then(async () => {
    await ssh?.server.close();
    await transport.close();
  });
  return {
    done,
    async stop() {
      stopping.abort();
      await done;
    },
  };
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
      sandboxFor: (jobId) => registry.sandboxFor(jobId),
      sessionEvent(jobId, user, event) {
        registry.session(jobId, event);
        client
          .sshSession(jobId, { event, user_id: user.id })
          .catch((err) => console.error(`cairn-builder: ${err.message}`));
      },
    },
    { host, port: Number(id.ssh_listen.slice(at + 1)) },
  );
  const endpoint = `${id.ssh_advertise ?? host}:${server.port}`;
  console.log(`cairn-builder: SSH into builds on ${endpoint}`);
  return { registry, server, endpoint };
}
