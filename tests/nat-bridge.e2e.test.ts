// The optional egress-only NAT bridge, for real: LXC containers over the harness sshd, nftables,
// and network namespaces this test makes. Every packet goes to 127.0.0.0/8 or to an address
// inside a namespace or bridge the test built: an "upstream" namespace on TEST-NET-2
// (198.51.100.0/24) stands for the Internet, a "private" one holds a 10.x address.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createLxcDriver } from "../builder/driver/lxc.ts";
import { ensureNatNetwork } from "../builder/driver/lxc-network.ts";
import type { Driver, HostTransport, Sandbox } from "../builder/driver/types.ts";
import type { NetworkConfig } from "../builder/identity.ts";
import { createSshTransport } from "../builder/transport/ssh.ts";
import {
  cairnContainers,
  destroyContainers,
  ensureBaseTemplate,
  requireLxc,
  TEMPLATE,
  testLxcPath,
} from "./harness/lxc.ts";
import { recordMade } from "./harness/runs.ts";
import { sshdLogin, startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const skip = await requireLxc({ sshd: true });
const LXC_PATH = skip ? "" : testLxcPath("nat");
// The whole pid (interface names stay under 15 characters): a sweep removes a dead run's by name.
const tag = String(process.pid);
// Addresses and the port are this run's own too: another run of this file (another checkout, CI)
// may be on the machine at the same time, and something may listen on a well-known port.
const k = (process.pid % 250) + 1;
const NET: NetworkConfig = { mode: "nat", bridge: `cnat${tag}`, subnet: `10.231.${k}.0/24` };
const GATEWAY = `10.231.${k}.1`;
const STRAY = `10.231.${k}.250`;
const UPSTREAM = { ns: `cairn-up-${tag}`, veth: `cup${tag}`, host: "198.51.100.1", peer: "198.51.100.2" };
const PRIVATE = { ns: `cairn-pv-${tag}`, veth: `cpv${tag}`, host: `10.232.${k}.1`, peer: `10.232.${k}.2` };
const PORT = 20_000 + (process.pid % 20_000);
const FORWARD = "/proc/sys/net/ipv4/ip_forward";

function sh(...argv: string[]): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** A namespace on a veth from the host, /24 or /30 on both ends, with an HTTP server saying `name`. */
function namespace(
  n: { ns: string; veth: string; host: string; peer: string },
  prefix: number,
  name: string,
) {
  // Written down first: a sweep after a kill removes them (tests/harness/runs.ts).
  recordMade({ kind: "netns", name: n.ns });
  recordMade({ kind: "link", name: n.veth });
  sh("ip", "netns", "add", n.ns);
  sh("ip", "link", "add", n.veth, "type", "veth", "peer", "name", "eth0", "netns", n.ns);
  sh("ip", "addr", "add", `${n.host}/${prefix}`, "dev", n.veth);
  sh("ip", "link", "set", n.veth, "up");
  sh("ip", "netns", "exec", n.ns, "ip", "addr", "add", `${n.peer}/${prefix}`, "dev", "eth0");
  sh("ip", "netns", "exec", n.ns, "ip", "link", "set", "eth0", "up");
  sh("ip", "netns", "exec", n.ns, "ip", "link", "set", "lo", "up");
  // Says who asked: behind the NAT that is the host's address on this link, not the container's.
  const code = `Bun.serve({ hostname: ${JSON.stringify(n.peer)}, port: ${PORT}, fetch: (req, s) => new Response("${name}-ok from " + s.requestIP(req).address + "\\n") })`;
  return spawn("ip", ["netns", "exec", n.ns, process.execPath, "-e", code], { stdio: "ignore" });
}

describe.skipIf(skip)("egress-only NAT bridge", () => {
  let sshd: TestSshd;
  let transport: HostTransport;
  let nat: Driver;
  let forwardBefore: string;
  const servers: ChildProcess[] = [];
  const listeners: { stop(force?: boolean): void }[] = [];
  const sandboxes: Sandbox[] = [];
  let server: TestServer | undefined;
  let builder: BuilderProcess | undefined;

  beforeAll(async () => {
    // What a killed run of this file left: the nft tables of bridges that are gone. Such a table's
    // "forwarding was off" rule drops every forward not through its own bridge, so ours too.
    for (const line of sh("nft", "list", "tables").split("\n")) {
      const m = /^table (inet|bridge) cairn_(cnat\d+)$/.exec(line.trim());
      if (m && !existsSync(`/sys/class/net/${m[2]}`)) sh("nft", "delete", "table", m[1], `cairn_${m[2]}`);
    }
    forwardBefore = readFileSync(FORWARD, "utf8").trim();
    await ensureBaseTemplate({ lxcPath: LXC_PATH });
    sshd = await startSshd();
    transport = await createSshTransport(sshdLogin(sshd));
    servers.push(namespace(UPSTREAM, 24, "upstream"), namespace(PRIVATE, 30, "private"));
    recordMade({ kind: "link", name: NET.bridge });
    for (const family of ["inet", "bridge"] as const)
      recordMade({ kind: "nft", name: `cairn_${NET.bridge}`, family });
    await ensureNatNetwork(transport, NET);
    nat = createLxcDriver({ transport, template: TEMPLATE, lxcPath: LXC_PATH, network: NET });
    await nat.check();
    // Listeners on the host itself: its bridge address, its address on the upstream link, loopback.
    for (const hostname of [GATEWAY, UPSTREAM.host, "127.0.0.1"]) {
      listeners.push(Bun.serve({ hostname, port: PORT, fetch: () => new Response("host-ok\n") }));
    }
    // Everything the containers will be refused answers the host, so a refusal is the firewall's.
    for (const url of [
      `http://${UPSTREAM.peer}:${PORT}/`,
      `http://${PRIVATE.peer}:${PORT}/`,
      `http://${GATEWAY}:${PORT}/`,
    ]) {
      await until(`${url} to answer the host`, async () => (await fetch(url).catch(() => null))?.ok, 10_000);
    }
  });

  afterAll(async () => {
    for (const s of sandboxes) await s.destroy().catch(() => {});
    await builder?.stop();
    await destroyContainers({ lxcPath: LXC_PATH }); // whatever a failed test left
    await server?.stop();
    for (const l of listeners) l.stop(true);
    for (const s of servers) s.kill("SIGKILL");
    await transport?.close();
    await sshd?.stop();
    for (const family of ["inet", "bridge"])
      spawnSync("nft", ["delete", "table", family, `cairn_${NET.bridge}`]);
    spawnSync("ip", ["link", "del", NET.bridge]);
    for (const n of [UPSTREAM, PRIVATE]) spawnSync("ip", ["netns", "del", n.ns]);
    rmSync(`/run/cairn-net-${NET.bridge}.forwarding-was-off`, { force: true });
    rmSync(`/run/lock/cairn-net-${NET.bridge}.lock`, { force: true });
    if (forwardBefore) writeFileSync(FORWARD, `${forwardBefore}\n`);
  });

  // Each test's sandboxes are its own: destroyed after it, failed or not.
  afterEach(async () => {
    for (const s of sandboxes.splice(0)) await s.destroy().catch(() => {});
  });

  async function run(sandbox: Sandbox, script: string) {
    let output = "";
    const code = await sandbox.run(
      { script, workdir: "/root", env: {} },
      { onOutput: (b) => (output += new TextDecoder().decode(b)) },
    );
    return { code, output };
  }
  async function sandbox(): Promise<Sandbox> {
    const s = await nat.create({ name: `nat-${tag}-${sandboxes.length}` });
    sandboxes.push(s);
    return s;
  }
  const curl = (url: string) => `curl -sS --connect-timeout 2 -m 3 ${url}`;

  test("the default stays loopback only", async () => {
    const plain = createLxcDriver({ transport, template: TEMPLATE, lxcPath: LXC_PATH });
    const s = await plain.create({ name: `plain-${tag}` });
    try {
      const r = await run(s, "ls /sys/class/net");
      expect(r.output.trim()).toBe("lo");
    } finally {
      await s.destroy();
    }
  });

  test("a container reaches the upstream through the NAT, as the host's address", async () => {
    const s = await sandbox();
    const r = await run(s, `ip -4 -o addr show dev eth0; ${curl(`http://${UPSTREAM.peer}:${PORT}/`)}`);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(new RegExp(`inet 10\\.231\\.${k}\\.\\d+/24`));
    expect(r.output).toContain(`upstream-ok from ${UPSTREAM.host}`);
  });

  test("it reaches nothing on the host, on a private network, or in another container", async () => {
    const [a, b] = [await sandbox(), await sandbox()];
    // b serves on its own address; it answers itself, so the listener is up.
    const start = `nohup perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => ${PORT}, Listen => 5, ReuseAddr => 1) or die; while ($c = $s->accept) { print $c "HTTP/1.0 200 OK\\r\\n\\r\\nneighbour-ok\\n"; close $c }' >/dev/null 2>&1 </dev/null &`;
    const own = await run(
      b,
      `${start} sleep 0.5; ip -4 -o addr show dev eth0; ${curl(`http://127.0.0.1:${PORT}/`)}`,
    );
    expect(own.output, own.output).toContain("neighbour-ok");
    const neighbour = new RegExp(`inet (10\\.231\\.${k}\\.\\d+)/`).exec(own.output)?.[1];
    expect(neighbour).toBeDefined();
    const self = await run(b, curl(`http://${neighbour}:${PORT}/`));
    expect(self.output).toContain("neighbour-ok");

    for (const [what, url] of [
      ["the host's bridge address", `http://${GATEWAY}:${PORT}/`],
      ["the host's address on its uplink", `http://${UPSTREAM.host}:${PORT}/`],
      ["a private (10/8) network", `http://${PRIVATE.peer}:${PORT}/`],
      ["another container", `http://${neighbour}:${PORT}/`],
    ] as const) {
      const r = await run(a, curl(url));
      expect(r.code, `${what}: ${r.output}`).not.toBe(0);
      expect(r.output, what).not.toContain("-ok");
    }
    // 127.0.0.1 in a container is its own loopback: the host's listener there is out of reach.
    const lo = await run(a, curl(`http://127.0.0.1:${PORT}/`));
    expect(lo.output).toMatch(/Connection refused|Failed to connect/);
    expect(lo.output).not.toContain("host-ok");
  });

  test("a container cannot send as another address (nor add one: it has no CAP_NET_ADMIN)", async () => {
    const a = await sandbox();
    const r = await run(
      a,
      `ip addr add ${STRAY}/24 dev eth0 && ${curl(`--interface ${STRAY} http://${UPSTREAM.peer}:${PORT}/`)}`,
    );
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toContain("RTNETLINK answers: Operation not permitted");
    expect(r.output).not.toContain("upstream-ok");
    // Its own address still works.
    expect((await run(a, curl(`http://${UPSTREAM.peer}:${PORT}/`))).output).toContain("upstream-ok");
  });

  test("--nat-dns resolvers are the container's resolv.conf; without it there is none", async () => {
    const withDns = createLxcDriver({
      transport,
      template: TEMPLATE,
      lxcPath: LXC_PATH,
      network: { ...NET, dns: ["9.9.9.9", "149.112.112.112"] },
    });
    const s = await withDns.create({ name: `dns-${tag}` });
    try {
      expect((await run(s, "cat /etc/resolv.conf")).output).toBe(
        "nameserver 9.9.9.9\nnameserver 149.112.112.112\n",
      );
    } finally {
      await s.destroy();
    }
    expect(
      (
        await run(await sandbox(), "cat /etc/resolv.conf 2>/dev/null | grep -c nameserver || true")
      ).output.trim(),
    ).toBe("0");
  });

  test("sandboxes give their veth and address back; nothing is left on the bridge", async () => {
    await sandbox();
    await sandbox();
    expect(sh("ls", `/sys/class/net/${NET.bridge}/brif`).trim()).not.toBe("");
    for (const s of sandboxes.splice(0)) await s.destroy();
    expect(await cairnContainers({ lxcPath: LXC_PATH })).toEqual([]);
    expect(sh("ls", `/sys/class/net/${NET.bridge}/brif`).trim()).toBe("");
    expect(sh("nft", "list", "set", "bridge", `cairn_${NET.bridge}`, "ports")).not.toMatch(
      new RegExp(`10\\.231\\.${k}\\.`),
    );
  });

  test("a builder started with --network nat runs a job step that reaches the upstream", async () => {
    server = await startTestServer();
    const repo = createRepo();
    repo.commit({
      ".circleci/config.yml": `version: 2.1\njobs:\n  egress:\n    machine: true\n    steps:\n      - run: ${curl(`http://${UPSTREAM.peer}:${PORT}/`)}\n      - run: "! ${curl(`http://${GATEWAY}:${PORT}/`)}"\nworkflows:\n  w:\n    jobs: [egress]\n`,
    });
    const p = (await (
      await server.api("/api/v1/projects", { method: "POST", json: { name: "nat", repo_url: repo.bare } })
    ).json()) as { id: string };
    builder = await startBuilder({
      server: server.url,
      adminToken: server.token,
      name: "nat",
      sshd,
      extraArgs: ["--lxc-path", LXC_PATH, "--network", "nat", "--bridge", NET.bridge, "--subnet", NET.subnet],
    });
    const pl = (await (
      await server.api(`/api/v1/projects/${p.id}/pipelines`, { method: "POST", json: { branch: "main" } })
    ).json()) as { jobs: { id: string }[] };
    const id = pl.jobs[0].id;
    const job = await until("the job to finish", async (note) => {
      const j = (await (await server!.api(`/api/v1/jobs/${id}`)).json()) as { status: string };
      note(`job ${id} ${j.status}`);
      return !["queued", "running"].includes(j.status) && j;
    });
    const log = await (await server.api(`/api/v1/jobs/${id}/log?format=text`)).text();
    expect(job.status, `${log}\n${builder.output()}`).toBe("success");
    expect(log).toContain(`upstream-ok from ${UPSTREAM.host}`);
    expect(builder.output()).toContain(`nat network on ${NET.bridge}`);
    expect(await cairnContainers({ lxcPath: LXC_PATH })).toEqual([]);
  });

  test("a malformed network setting is refused at registration with a reason", async () => {
    const r = spawnSync(
      process.execPath,
      [
        "builder/cli.ts",
        "register",
        "--server",
        "http://127.0.0.1:9",
        "--token",
        "x",
        "--network",
        "nat",
        "--subnet",
        "10.231.7.5/24",
      ],
      { encoding: "utf8", cwd: `${import.meta.dir}/..` },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--subnet 10.231.7.5/24 has host bits set");
  });
});
