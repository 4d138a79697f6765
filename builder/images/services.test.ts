// Service containers for real: images built here with umoci and served by docker-registry on
// loopback, pulled by the image store, started by the LXC driver beside a job's container in its
// network namespace. What the config says becomes the service's command, environment and user.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanUp } from "../../tests/harness/clean-up.ts";
import { ensureBaseTemplate, TEMPLATE, testLxcPath } from "../../tests/harness/lxc.ts";
import { type Made, recordMade, removeMade } from "../../tests/harness/runs.ts";
import { imageSuiteSkips } from "../../tests/support/image-suite.ts";
import { until } from "../../tests/support/lxc-stack.ts";
import { pushImage, startRegistry, type TestRegistry } from "../../tests/support/registry.ts";
import { rootSubidStart } from "../../tests/support/subids.ts";
import { createLxcDriver } from "../driver/lxc.ts";
import { ensureNatNetwork } from "../driver/lxc-network.ts";
import type { Sandbox } from "../driver/types.ts";
import type { NetworkConfig } from "../identity.ts";
import { createLocalTransport } from "../transport/local.ts";
import { serviceSpec } from "./services.ts";
import { ImageStore, type PreparedImage } from "./store.ts";

setDefaultTimeout(120_000);

const image = (over: Partial<PreparedImage> = {}): PreparedImage => ({
  name: "x",
  pulledFrom: "r/x:1",
  digest: "sha256:1",
  template: "cairnimg-1",
  cached: true,
  bytes: 0,
  seconds: 0,
  env: { PATH: "/bin", FROM: "image" },
  user: { uid: 0, gid: 0, home: "/root", name: "root" },
  workdir: "",
  entrypoint: ["docker-entrypoint.sh"],
  cmd: ["postgres"],
  passwd: [
    { name: "root", uid: 0, gid: 0, home: "/root" },
    { name: "postgres", uid: 999, gid: 998, home: "/var/lib/postgresql" },
  ],
  ...over,
});

describe("a service's command, environment and user, as Docker makes them", () => {
  test("the image's Entrypoint and Cmd; `command` replaces Cmd; `entrypoint` replaces both", () => {
    const svc = { image: { name: "postgres:16" } };
    expect(serviceSpec(svc, image(), 1).argv).toEqual(["docker-entrypoint.sh", "postgres"]);
    expect(serviceSpec({ ...svc, command: ["postgres", "-c", "fsync=off"] }, image(), 1).argv).toEqual([
      "docker-entrypoint.sh",
      "postgres",
      "-c",
      "fsync=off",
    ]);
    expect(serviceSpec({ ...svc, entrypoint: ["sh"] }, image(), 1).argv).toEqual(["sh"]);
    expect(serviceSpec({ ...svc, entrypoint: ["sh"], command: ["-c", "x"] }, image(), 1).argv).toEqual([
      "sh",
      "-c",
      "x",
    ]);
    expect(() => serviceSpec(svc, image({ entrypoint: [], cmd: [] }), 1)).toThrow(
      "service container postgres:16: its image has no Entrypoint or Cmd and the config gives no command",
    );
  });

  test("the entry's environment over the image's Env; `user` by name, uid or uid:gid", () => {
    const svc = { image: { name: "postgres:16" }, environment: { FROM: "config", POSTGRES_PASSWORD: "pw" } };
    const spec = serviceSpec({ ...svc, user: "postgres", name: "db" }, image(), 2);
    expect(spec).toMatchObject({ index: 2, template: "cairnimg-1", uid: 999, gid: 998, hostname: "db" });
    expect(spec.env).toEqual({
      HOME: "/var/lib/postgresql",
      PATH: "/bin",
      FROM: "config",
      POSTGRES_PASSWORD: "pw",
    });
    expect(serviceSpec({ ...svc, user: "999:5" }, image(), 1)).toMatchObject({ uid: 999, gid: 5 });
    expect(serviceSpec({ ...svc, user: "4242" }, image(), 1)).toMatchObject({ uid: 4242, gid: 0 });
    expect(() => serviceSpec({ ...svc, user: "nobody" }, image(), 1)).toThrow(
      'user "nobody" is not in the image\'s /etc/passwd',
    );
    expect(() => serviceSpec({ ...svc, name: "a b" }, image(), 1)).toThrow('name "a b" is not a host name');
  });
});

const skip = await imageSuiteSkips();

describe.skipIf(skip)("service containers beside a job's container", () => {
  const LXC_PATH = skip ? "" : testLxcPath("services");
  const suffix = Math.random().toString(36).slice(2, 8);
  const owner = `cairn-test-services-${suffix}`;
  const transport = createLocalTransport();
  const driver = createLxcDriver({ transport, template: TEMPLATE, lxcPath: LXC_PATH, owner });
  let registry: TestRegistry;
  let store: ImageStore;
  let dir: string;
  let job: PreparedImage;
  let web: PreparedImage;

  beforeAll(async () => {
    await ensureBaseTemplate({ lxcPath: LXC_PATH });
    registry = await startRegistry();
    dir = mkdtempSync(join(tmpdir(), "cairn-services-images-"));
    store = new ImageStore(
      transport,
      { dir, insecureRegistries: [registry.host], graceSeconds: 0 },
      { lxcPath: LXC_PATH, baseTemplate: TEMPLATE },
    );
    pushImage(registry.host, `s${suffix}/job`, "1", { marker: "job" });
    // A web server as the image's own command, running as its non-root user.
    pushImage(registry.host, `s${suffix}/web`, "1", {
      marker: `served-by-${suffix}`,
      user: "1000:1000",
      entrypoint: ["httpd", "-f", "-v"],
      cmd: ["-p", "8080", "-h", "/"],
    });
    job = await store.prepare(`${registry.host}/s${suffix}/job:1`);
    web = await store.prepare(`${registry.host}/s${suffix}/web:1`);
  });

  // This test's containers (services with their job's), then its lxcpath and store.
  afterAll(() =>
    cleanUp([
      () => driver.reapOrphans(new Set()),
      () => registry?.stop(),
      () => LXC_PATH && rmSync(LXC_PATH, { recursive: true, force: true }),
      () => dir && rmSync(dir, { recursive: true, force: true }),
    ]),
  );

  const fetchIn = (sandbox: Sandbox, url: string) => {
    let out = "";
    return sandbox
      .run(
        {
          // Services are not waited for (as on CircleCI): the step retries until it answers.
          script: `for i in $(seq 1 100); do wget -qO- ${url} && exit 0; sleep 0.1; done; exit 1`,
          workdir: "/",
          env: { PATH: "/bin" },
        },
        { onOutput: (b) => (out += new TextDecoder().decode(b)) },
      )
      .then((code) => ({ code, out }));
  };

  const hostPids = (name: string) =>
    spawnSync("lxc-info", ["-P", LXC_PATH, "-n", name, "-pH"]).stdout.toString().trim();

  test("the job reaches its service on localhost and by name; the service goes with the job", async () => {
    const sandbox = await driver.create({
      name: `svc-${suffix}-1`,
      template: job.template,
      limits: { memoryBytes: 256 << 20 },
    });
    let destroyed = false;
    try {
      const service = await sandbox.startService!({
        ...serviceSpec({ image: { name: web.name }, name: "web" }, web, 1),
      });
      expect(service.name).toBe(`${sandbox.name}-svc1`);
      expect(await fetchIn(sandbox, "http://localhost:8080/marker")).toEqual({
        code: 0,
        out: `served-by-${suffix}\n`,
      });
      expect(await fetchIn(sandbox, "http://web:8080/marker")).toEqual({
        code: 0,
        out: `served-by-${suffix}\n`,
      });
      // Its own container: another image's root, as the image's user, an unprivileged host uid.
      const pid = hostPids(service.name);
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      // The image's user 1000, shifted by the host's subordinate range.
      expect(status).toMatch(new RegExp(`^Uid:\\s+${rootSubidStart("/etc/subuid") + 1000}\\s`, "m"));
      expect(readFileSync(`/proc/${pid}/root/marker`, "utf8")).toBe(`served-by-${suffix}\n`);
      expect(readFileSync(`/proc/${hostPids(sandbox.name)}/root/marker`, "utf8")).toBe("job\n");
      // One network, two containers.
      const ns = (p: string, kind: string) =>
        spawnSync("readlink", [`/proc/${p}/ns/${kind}`]).stdout.toString();
      expect(ns(pid, "net")).toBe(ns(hostPids(sandbox.name), "net"));
      expect(ns(pid, "mnt")).not.toBe(ns(hostPids(sandbox.name), "mnt"));
      expect(ns(pid, "pid")).not.toBe(ns(hostPids(sandbox.name), "pid"));
      // cgroup v1: inside the job's cgroup, so the job's memory limit counts the service too.
      if (!existsSync("/sys/fs/cgroup/cgroup.controllers"))
        expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toMatch(
          new RegExp(`:memory:.*/lxc\\.payload\\.${sandbox.name}/${service.name}\\n`),
        );
      // httpd -v logs each request to its stderr: the service's output (its console, lines as written).
      // Read once both requests are in it: httpd writes each line after it answered.
      const output = await until(
        "the service's console to show both requests",
        async (note) => {
          const out = await service.output();
          note(JSON.stringify(out));
          return out.split("\n").length > 2 && out;
        },
        60_000,
      );
      expect(output).toMatch(/^(\[::ffff:127\.0\.0\.1\]:\d+: response:200\n){2}$/);
      expect(await service.running()).toBe(true);
      await sandbox.destroy();
      destroyed = true;
      const left = spawnSync("lxc-ls", ["-P", LXC_PATH, "-1"]).stdout.toString();
      expect(left).not.toContain(sandbox.name);
      expect(existsSync(`/proc/${pid}`)).toBe(false);
      expect(
        spawnSync("sh", [
          "-c",
          `ls -d /sys/fs/cgroup/*/lxc.payload.${sandbox.name} 2>/dev/null`,
        ]).stdout.toString(),
      ).toBe("");
    } finally {
      if (!destroyed) await sandbox.destroy();
    }
  });

  test("behind the NAT: the job reaches its service on localhost and the Internet; the service shares that egress", async () => {
    // A NAT bridge of this test's own, and the "Internet": a TEST-NET-3 address in a namespace this
    // test makes, behind a router on a TEST-NET-2 link from the host (as in tests/nat-bridge.e2e.test.ts).
    const tag = String(process.pid);
    const k = (process.pid % 250) + 1;
    const net: NetworkConfig = { mode: "nat", bridge: `csvc${tag}`, subnet: `10.233.${k}.0/24` };
    const up = { ns: `cairn-svcup-${tag}`, veth: `csu${tag}`, host: "198.51.100.9", peer: "198.51.100.10" };
    const internet = `203.0.113.${k}`;
    const port = 20_000 + (process.pid % 20_000);
    const made: Made[] = [
      { kind: "nft", family: "inet", name: `cairn_${net.bridge}` },
      { kind: "nft", family: "bridge", name: `cairn_${net.bridge}` },
      { kind: "link", name: net.bridge },
      { kind: "netns", name: up.ns },
      { kind: "file", name: `/run/cairn-net-${net.bridge}.forwarding-was-off` },
      { kind: "file", name: `/run/lock/cairn-net-${net.bridge}.lock` },
    ];
    const forward = "/proc/sys/net/ipv4/ip_forward";
    const forwardBefore = readFileSync(forward, "utf8").trim();
    const sh = (...argv: string[]) => {
      const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
      return r.stdout;
    };
    let upstream: ChildProcess | undefined;
    let sandbox: Sandbox | undefined;
    try {
      for (const m of made) recordMade(m);
      sh("ip", "netns", "add", up.ns);
      sh("ip", "link", "add", up.veth, "type", "veth", "peer", "name", "eth0", "netns", up.ns);
      sh("ip", "addr", "add", `${up.host}/30`, "dev", up.veth);
      sh("ip", "link", "set", up.veth, "up");
      const inUp = ["ip", "netns", "exec", up.ns];
      sh(...inUp, "ip", "addr", "add", `${up.peer}/30`, "dev", "eth0");
      sh(...inUp, "ip", "link", "set", "eth0", "up");
      sh(...inUp, "ip", "link", "set", "lo", "up");
      sh(...inUp, "ip", "addr", "add", `${internet}/32`, "dev", "lo");
      sh("ip", "route", "add", `${internet}/32`, "via", up.peer, "dev", up.veth);
      // Says who asked: behind the NAT, the host's address on the link, whichever container asked.
      const code = `Bun.serve({ hostname: "0.0.0.0", port: ${port}, fetch: (req, s) => new Response("internet-ok from " + s.requestIP(req).address + "\\n") })`;
      upstream = spawn(inUp[0], [...inUp.slice(1), process.execPath, "-e", code], { stdio: "ignore" });
      const url = `http://${internet}:${port}/`;
      await until(
        `${url} to answer the host`,
        async (note) => {
          const r = await fetch(url).catch((e: Error) => {
            note(e.message);
            return null;
          });
          return r?.ok;
        },
        30_000,
      );
      await ensureNatNetwork(transport, net);
      const nat = createLxcDriver({ transport, template: TEMPLATE, lxcPath: LXC_PATH, owner, network: net });
      sandbox = await nat.create({ name: `svc-${suffix}-nat`, template: job.template });
      expect(sandbox.network).toMatchObject({ mode: "egress", bridge: net.bridge });
      // The service fetches from the Internet itself (its output says what it got), then serves.
      const service = await sandbox.startService!(
        serviceSpec(
          {
            image: { name: web.name },
            entrypoint: [
              "sh",
              "-c",
              `for i in $(seq 1 100); do wget -qO- ${url} && break; sleep 0.1; done; exec httpd -f -v -p 8080 -h /`,
            ],
            user: "0",
            name: "web",
          },
          web,
          1,
        ),
      );
      // (a) the service on localhost, (b) the Internet from the job, as the host's address.
      expect(await fetchIn(sandbox, "http://localhost:8080/marker")).toEqual({
        code: 0,
        out: `served-by-${suffix}\n`,
      });
      expect(await fetchIn(sandbox, url)).toEqual({ code: 0, out: `internet-ok from ${up.host}\n` });
      // (c) the service's own request went out through the job's network, the same way.
      expect(await service.output()).toStartWith(`internet-ok from ${up.host}\n`);
      const pid = hostPids(service.name);
      const ns = (p: string) => spawnSync("readlink", [`/proc/${p}/ns/net`]).stdout.toString();
      expect(ns(pid)).toBe(ns(hostPids(sandbox.name)));
      // (d) job and service gone, and the job's veth off the bridge.
      const veths = sh("ls", `/sys/class/net/${net.bridge}/brif`).trim();
      expect(veths).not.toBe("");
      await sandbox.destroy();
      sandbox = undefined;
      const left = spawnSync("lxc-ls", ["-P", LXC_PATH, "-1"]).stdout.toString().split(/\s+/);
      expect(left).not.toContain(`svc-${suffix}-nat`);
      expect(left).not.toContain(`svc-${suffix}-nat-svc1`);
      expect(existsSync(`/proc/${pid}`)).toBe(false);
      // The kernel tears a dead container's network namespace (and its veth) down in the background.
      await until(
        `the veth ${veths} to leave the bridge ${net.bridge}`,
        async (note) => {
          const now = sh("ls", `/sys/class/net/${net.bridge}/brif`).trim();
          note(now);
          return now === "" && !existsSync(`/sys/class/net/${veths}`);
        },
        60_000,
      );
    } finally {
      await sandbox?.destroy().catch(() => {});
      upstream?.kill("SIGKILL");
      for (const m of made) removeMade(m);
      // Forwarding back as it was, unless another NAT bridge (another test run's) still needs it.
      const others = spawnSync("nft", ["list", "tables"], { encoding: "utf8" }).stdout;
      if (!/^table inet cairn_/m.test(others)) writeFileSync(forward, `${forwardBefore}\n`);
    }
  });

  test("the config's entrypoint, environment, user and name; a service whose program exits is seen stopped", async () => {
    const sandbox = await driver.create({ name: `svc-${suffix}-2`, template: job.template });
    try {
      const spec = serviceSpec(
        {
          image: { name: web.name },
          entrypoint: [
            "sh",
            "-c",
            'echo "hello $GREETING as $(id -u) in $(pwd) on $(hostname)"; cat /etc/hosts; exit 3',
          ],
          environment: { GREETING: "from the config" },
          user: "0",
          name: "db",
        },
        web,
        1,
      );
      const service = await sandbox.startService!({ ...spec, peers: ["cache"] });
      for (let i = 0; i < 100 && (await service.running()); i++) await Bun.sleep(50);
      expect(await service.running()).toBe(false);
      const output = await service.output();
      expect(output).toContain("hello from the config as 0 in / on db\n");
      // Its own /etc/hosts, as Docker writes one: localhost and its name; the job's other services too.
      expect(output).toContain("127.0.0.1 localhost\n");
      expect(output).toContain("127.0.0.1 db cache\n");
    } finally {
      await sandbox.destroy();
    }
  });

  test.skipIf(existsSync("/sys/fs/cgroup/cgroup.controllers"))(
    "cgroup v1: the job's memory limit holds its service too",
    async () => {
      const sandbox = await driver.create({
        name: `svc-${suffix}-5`,
        template: job.template,
        limits: { memoryBytes: 64 << 20 },
      });
      try {
        const hog = 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo "held ${#x} bytes"';
        const service = await sandbox.startService!(
          serviceSpec({ image: { name: web.name }, entrypoint: ["sh", "-c", hog], user: "0" }, web, 1),
        );
        for (let i = 0; i < 200 && (await service.running()); i++) await Bun.sleep(50);
        expect(await service.running()).toBe(false);
        expect(await service.output()).not.toContain("held");
        // The job's cgroup counted the service's memory up to the job's limit, not past it.
        const peak = readFileSync(
          `/sys/fs/cgroup/memory/lxc.payload.${sandbox.name}/memory.max_usage_in_bytes`,
          "utf8",
        );
        expect(Number(peak)).toBeGreaterThan(48 << 20);
        expect(Number(peak)).toBeLessThanOrEqual(64 << 20);
      } finally {
        await sandbox.destroy();
      }
    },
  );

  test("the orphan reaper keeps a running job's services and removes an orphan's with it", async () => {
    const kept = await driver.create({ name: `svc-${suffix}-3`, template: job.template });
    const orphan = await driver.create({ name: `svc-${suffix}-4`, template: job.template });
    try {
      const spec = serviceSpec({ image: { name: web.name } }, web, 1);
      await kept.startService!(spec);
      await orphan.startService!(spec);
      const reaped = await driver.reapOrphans(new Set([kept.name]));
      expect(reaped).toEqual([orphan.name]);
      const left = spawnSync("lxc-ls", ["-P", LXC_PATH, "-1"]).stdout.toString().split(/\s+/);
      expect(left).toContain(kept.name);
      expect(left).toContain(`${kept.name}-svc1`);
      expect(left).not.toContain(orphan.name);
      expect(left).not.toContain(`${orphan.name}-svc1`);
    } finally {
      await kept.destroy();
      await orphan.destroy();
    }
  });
});
