// The host pool with fake hosts (the real thing, over two sshd and LXC, is tests/fleet-hosts.e2e.test.ts).
import { describe, expect, test } from "bun:test";
import type { Driver, HostTransport } from "../driver/types.ts";
import type { HostConfig } from "../identity.ts";
import { HostPool } from "./pool.ts";

interface FakeHost {
  up: boolean;
  reaped: Set<string>[];
  created: string[];
}

function fakeHost(): FakeHost {
  return { up: true, reaped: [], created: [] };
}

const config = (name: string, slots: number): HostConfig => ({
  transport: {
    kind: "ssh",
    host: name,
    port: 22,
    username: "root",
    private_key_file: "k",
    host_key: "SHA256:x",
  },
  slots,
});

function pool(hosts: Record<string, FakeHost>, configs: HostConfig[]) {
  const of = (c: HostConfig) => hosts[(c.transport as { host: string }).host];
  return new HostPool(configs, {
    probeIntervalMs: 20,
    retryBaseMs: 10,
    retryCapMs: 20,
    placeTimeoutMs: 50,
    async connect(c) {
      const h = of(c);
      if (!h.up) throw new Error("connection refused");
      const transport: HostTransport = {
        kind: "ssh",
        exec: async () => {
          if (!h.up) throw new Error("ssh connection closed");
          return { code: 0, stdout: "", stderr: "" };
        },
        interactive: async () => {
          throw new Error("no");
        },
        close: async () => {},
      };
      const driver: Driver = {
        kind: "lxc",
        check: async () => {},
        async create(o) {
          h.created.push(o.name);
          return {
            name: o.name,
            unsandboxed: false,
            putTree: async () => {},
            run: async () => 0,
            capture: async () => {
              throw new Error("no");
            },
            feed: async () => {},
            destroy: async () => {},
          };
        },
        reapOrphans: async (keep) => {
          h.reaped.push(new Set(keep));
          return [];
        },
      };
      return { transport, driver };
    },
  });
}

describe("host pool", () => {
  test("capacity is the sum of slots; jobs go to the least loaded host", async () => {
    const hosts = { a: fakeHost(), b: fakeHost() };
    const p = pool(hosts, [config("a", 2), config("b", 1)]);
    await p.start();
    expect(p.slots).toBe(3);
    expect(p.freeSlots()).toBe(3);
    const first = await p.place("small");
    const second = await p.place("small");
    const third = await p.place("small");
    expect([first, second, third].map((x) => x?.host.label)).toEqual(["root@a:22", "root@b:22", "root@a:22"]);
    expect(p.freeSlots()).toBe(0);
    expect(await p.place("small")).toBeNull();
    second?.release();
    second?.release(); // idempotent
    expect(p.freeSlots()).toBe(1);
    first?.release();
    third?.release();
    await p.stop();
  });

  test("a host that goes down is withdrawn, the others keep taking jobs, and it comes back", async () => {
    const hosts = { a: fakeHost(), b: fakeHost() };
    const p = pool(hosts, [config("a", 1), config("b", 1)]);
    await p.start();
    const onA = await p.place("small");
    expect(onA?.host.label).toBe("root@a:22");
    // A job is running on a; its sandbox must survive the reaper when a reconnects.
    await onA?.driver.create({ name: "cairn-job-1" });
    hosts.a.up = false;
    hosts.b.up = false;
    await Bun.sleep(60);
    expect(p.hosts.map((h) => h.state)).toEqual(["down", "down"]);
    expect(p.freeSlots()).toBe(0);
    hosts.b.up = true;
    const waited = p.whenFree();
    await waited;
    expect(p.hosts[1].state).toBe("up");
    const onB = await p.place("small");
    expect(onB?.host.label).toBe("root@b:22");
    onB?.release();
    hosts.a.up = true;
    for (let i = 0; i < 50 && p.hosts[0].state !== "up"; i++) await Bun.sleep(10);
    expect(p.hosts[0].state).toBe("up");
    expect(hosts.a.reaped.at(-1)).toEqual(new Set(["cairn-job-1"]));
    onA?.release();
    await p.stop();
  });

  test("start fails, naming every host, when none can be reached", async () => {
    const hosts = { a: { ...fakeHost(), up: false }, b: { ...fakeHost(), up: false } };
    const p = pool(hosts, [config("a", 1), config("b", 1)]);
    await expect(p.start()).rejects.toThrow(/root@a:22: connection refused; root@b:22: connection refused/);
  });

  test("a placement checks the host first and skips one that stopped answering", async () => {
    const hosts = { a: fakeHost(), b: fakeHost() };
    const p = new HostPool([config("a", 1), config("b", 1)], {
      probeIntervalMs: 60_000,
      placeTimeoutMs: 50,
      connect: async (c) => {
        const name = (c.transport as { host: string }).host;
        const h = hosts[name as "a" | "b"];
        return {
          transport: {
            kind: "ssh",
            exec: async () => {
              if (!h.up) throw new Error("gone");
              return { code: 0, stdout: "", stderr: "" };
            },
            interactive: async () => {
              throw new Error("no");
            },
            close: async () => {},
          },
          driver: {
            kind: "lxc",
            check: async () => {},
            create: async () => ({}) as never,
            reapOrphans: async () => [],
          },
        };
      },
    });
    await p.start();
    hosts.a.up = false;
    const placed = await p.place(undefined);
    expect(placed?.host.label).toBe("root@b:22");
    expect(p.hosts[0].state).toBe("down");
    expect(p.hosts[0].lastError).toBe("gone");
    placed?.release();
    await p.stop();
  });
});
