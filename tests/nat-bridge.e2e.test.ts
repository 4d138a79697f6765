// The egress-only NAT bridge (an LXC builder's default), for real: LXC containers over the harness
// sshd, nftables, and network namespaces this test makes. Every packet goes to 127.0.0.0/8 or to an
// address inside a namespace or bridge the test built: an "upstream" namespace is a router on the
// host's uplink (TEST-NET-2, 198.51.100.0/30, a network directly connected to the host, so blocked)
// with the "Internet" behind it (a TEST-NET-3 address, routed through it); a "private" one holds a
// 10.x address. Everything made is in this run's ledger (tests/harness/lxc.ts), swept if it is killed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createLxcDriver } from "../builder/driver/lxc.ts";
import { ensureNatNetwork } from "../builder/driver/lxc-network.ts";
import type { Driver, HostTransport, Sandbox } from "../builder/driver/types.ts";
import type { NetworkConfig } from "../builder/identity.ts";
import { createSshTransport } from "../builder/transport/ssh.ts";
import { cleanUp } from "./harness/clean-up.ts";
import {
  cairnContainers,
  destroyContainers,
  ensureBaseTemplate,
  requireLxc,
  TEMPLATE,
  testLxcPath,
} from "./harness/lxc.ts";
import { type Made, recordMade, removeMade } from "./harness/runs.ts";
import { sshdLogin, startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const skip = await requireLxc({ sshd: true });
const LXC_PATH = skip ? "" : testLxcPath("nat");
// Named by the whole pid, so two runs never share a name (and a sweep finds a dead run's by its ledger).
const tag = String(process.pid);
// Addresses and the port are this run's own too: another run of this file (another checkout, CI)
// may be on the machine at the same time, and something may listen on a well-known port.
const k = (process.pid % 250) + 1;
const GATEWAY = `10.231.${k}.1`;
const STRAY = `10.231.${k}.250`;
const UPSTREAM = { ns: `cairn-up-${tag}`, veth: `cup${tag}`, host: "198.51.100.1", peer: "198.51.100.2" };
/** The "Internet": an address behind the upstream router, reached through the host's route. */
const INTERNET = `203.0.113.${k}`;
const PRIVATE = { ns: `cairn-pv-${tag}`, veth: `cpv${tag}`, host: `10.232.${k}.1`, peer: `10.232.${k}.2` };
const PORT = 20_000 + (process.pid % 20_000);
/** The operator's exception: PORT + 1 on the host's bridge address and on the private server; PORT stays blocked. */
const ALLOWED = PORT + 1;
/** The builder's own listener (SSH into builds) on the bridge address. */
const SSH_PORT = PORT + 2;
/** A container's own listener, for the inbound test. */
const INSIDE = PORT + 3;
const NET: NetworkConfig = {
  mode: "nat",
  bridge: `cairn-${tag}`,
  subnet: `10.231.${k}.0/24`,
  allow: [`${GATEWAY}:${ALLOWED}`, `${PRIVATE.peer}:${ALLOWED}`],
};
const FORWARD = "/proc/sys/net/ipv4/ip_forward";
const MADE: Made[] = [
  { kind: "nft", family: "inet", name: `cairn_${NET.bridge}` },
  { kind: "nft", family: "bridge", name: `cairn_${NET.bridge}` },
  { kind: "link", name: NET.bridge },
  { kind: "netns", name: UPSTREAM.ns },
  { kind: "netns", name: PRIVATE.ns },
  { kind: "file", name: `/run/cairn-net-${NET.bridge}.forwarding-was-off` },
  { kind: "file", name: `/run/lock/cairn-net-${NET.bridge}.lock` },
];

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
  sh("ip", "netns", "add", n.ns);
  sh("ip", "link", "add", n.veth, "type", "veth", "peer", "name", "eth0", "netns", n.ns);
  sh("ip", "addr", "add", `${n.host}/${prefix}`, "dev", n.veth);
  sh("ip", "link", "set", n.veth, "up");
  sh("ip", "netns", "exec", n.ns, "ip", "addr", "add", `${n.peer}/${prefix}`, "dev", "eth0");
  sh("ip", "netns", "exec", n.ns, "ip", "link", "set", "eth0", "up");
  sh("ip", "netns", "exec", n.ns, "ip", "link", "set", "lo", "up");
  // Says who asked: behind the NAT that is the host's address on this link, not the container's.
  const code = `for (const port of [${PORT}, ${ALLOWED}]) Bun.serve({ hostname: "0.0.0.0", port, fetch: (req, s) => new Response("${name}-ok on " + port + " from " + s.requestIP(req).address + "\\n") })`;
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
  const repos: TestRepo[] = [];

  beforeAll(async () => {
    // What a killed run of this file left: the nft tables of bridges that are gone. Such a table's
    // "forwarding was off" rule drops every forward not through its own bridge, so ours too.
    for (const line of sh("nft", "list", "tables").split("\n")) {
      const m = /^table (inet|bridge) cairn_(cnat\d+|cairn-\d+)$/.exec(line.trim());
      if (m && !existsSync(`/sys/class/net/${m[2]}`)) sh("nft", "delete", "table", m[1], `cairn_${m[2]}`);
    }
    forwardBefore = readFileSync(FORWARD, "utf8").trim();
    await ensureBaseTemplate({ lxcPath: LXC_PATH }); // also sweeps what killed runs left
    for (const m of MADE) recordMade(m);
    sshd = await startSshd();
    transport = await createSshTransport(sshdLogin(sshd));
    servers.push(namespace(UPSTREAM, 30, "upstream"), namespace(PRIVATE, 30, "private"));
    // The Internet is behind the router: its address on the router, the host's route to it through
    // the router (gone with the namespace), and the router's route back to the host's subnet.
    sh("ip", "netns", "exec", UPSTREAM.ns, "ip", "addr", "add", `${INTERNET}/32`, "dev", "lo");
    sh("ip", "route", "add", `${INTERNET}/32`, "via", UPSTREAM.peer, "dev", UPSTREAM.veth);
    await ensureNatNetwork(transport, NET);
    nat = createLxcDriver({ transport, template: TEMPLATE, lxcPath: LXC_PATH, network: NET });
    await nat.check();
    // Listeners on the host itself: its bridge address, its address on the upstream link, loopback;
    // on the bridge address also the allowed port.
    for (const hostname of [GATEWAY, UPSTREAM.host, "127.0.0.1"]) {
      listeners.push(Bun.serve({ hostname, port: PORT, fetch: () => new Response("host-ok\n") }));
    }
    listeners.push(Bun.serve({ hostname: GATEWAY, port: ALLOWED, fetch: () => new Response("mirror-ok\n") }));
    // Everything the containers will be refused answers the host, so a refusal is the firewall's.
    for (const url of [
      `http://${INTERNET}:${PORT}/`,
      `http://${UPSTREAM.peer}:${PORT}/`,
      `http://${PRIVATE.peer}:${PORT}/`,
      `http://${GATEWAY}:${PORT}/`,
      `http://${GATEWAY}:${ALLOWED}/`,
    ]) {
      await until(`${url} to answer the host`, async () => (await fetch(url).catch(() => null))?.ok, 10_000);
    }
  });

  afterAll(() =>
    cleanUp([
      // A test may have destroyed its sandbox already; a second destroy may say so.
      ...sandboxes.map((s) => () => s.destroy().catch(() => {})),
      () => builder?.stop(),
      () => destroyContainers({ lxcPath: LXC_PATH }), // whatever a failed test left
      () => server?.stop(),
      ...listeners.map((l) => () => l.stop(true)),
      ...servers.map((s) => () => s.kill("SIGKILL")),
      () => transport?.close(),
      () => sshd?.stop(),
      ...MADE.map((m) => () => removeMade(m)),
      // Forwarding back as it was, unless another NAT bridge (another run's, a builder's) still needs it.
      () => {
        const others = spawnSync("nft", ["list", "tables"], { encoding: "utf8" }).stdout ?? "";
        if (forwardBefore && !/^table inet cairn_/m.test(others))
          writeFileSync(FORWARD, `${forwardBefore}\n`);
      },
      ...repos.map((r) => () => r.remove()),
    ]),
  );

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

  test("a driver without the bridge, or a job that asks for none, stays loopback only", async () => {
    const s = await nat.create({ name: `none-${tag}`, network: "none" });
    try {
      const r = await run(s, `ls /sys/class/net; ip route; ${curl(`http://${INTERNET}:${PORT}/`)}`);
      // Only loopback, no route: nothing leaves.
      expect(r.output).toMatch(/^lo\ncurl: \(7\) Failed to connect/);
      expect(r.output).not.toContain("-ok");
      expect(s.network).toEqual({ mode: "none" });
    } finally {
      await s.destroy();
    }
  });

  test("without the bridge, the driver's containers are loopback only", async () => {
    const plain = createLxcDriver({ transport, template: TEMPLATE, lxcPath: LXC_PATH });
    const s = await plain.create({ name: `plain-${tag}` });
    try {
      const r = await run(s, "ls /sys/class/net");
      expect(r.output.trim()).toBe("lo");
    } finally {
      await s.destroy();
    }
  });

  test("a container reaches the Internet through the NAT, as the host's address", async () => {
    const s = await sandbox();
    const r = await run(s, `ip -4 -o addr show dev eth0; ${curl(`http://${INTERNET}:${PORT}/`)}`);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(new RegExp(`inet 10\\.231\\.${k}\\.\\d+/24`));
    expect(r.output).toContain(`upstream-ok on ${PORT} from ${UPSTREAM.host}`);
    expect(s.network).toMatchObject({ mode: "egress", bridge: NET.bridge, allow: NET.allow });
  });

  test("the live ruleset drops private, link-local and the host's own networks", () => {
    const rules = sh("nft", "list", "table", "inet", `cairn_${NET.bridge}`);
    for (const range of ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"])
      expect(rules).toContain(range);
    // The host's directly connected networks, as routed when the builder set up: the uplink too.
    const lans = sh("nft", "list", "set", "inet", `cairn_${NET.bridge}`, "host_nets");
    expect(lans).toContain("198.51.100.0/30");
    expect(lans).not.toContain(NET.subnet);
  });

  test("an operator's allowance opens one port on the host and one beyond it; their neighbours stay shut", async () => {
    const s = sandboxes[0] ?? (await sandbox());
    const mirror = await run(s, curl(`http://${GATEWAY}:${ALLOWED}/`));
    expect(mirror.output).toContain("mirror-ok");
    const privateMirror = await run(s, curl(`http://${PRIVATE.peer}:${ALLOWED}/`));
    expect(privateMirror.output).toContain(`private-ok on ${ALLOWED}`);
    for (const url of [`http://${GATEWAY}:${PORT}/`, `http://${PRIVATE.peer}:${PORT}/`]) {
      const r = await run(s, curl(url));
      expect(r.code, `${url}: ${r.output}`).not.toBe(0);
      expect(r.output, url).not.toContain("-ok");
    }
  });

  test("nothing connects in: the upstream, routed to the containers' subnet, is refused", async () => {
    const s = sandboxes[0] ?? (await sandbox());
    const start = `nohup perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => ${INSIDE}, Listen => 5, ReuseAddr => 1) or die; while ($c = $s->accept) { print $c "HTTP/1.0 200 OK\\r\\n\\r\\ninside-ok\\n"; close $c }' >/dev/null 2>&1 </dev/null &`;
    const own = await run(s, `${start} sleep 0.5; ${curl(`http://127.0.0.1:${INSIDE}/`)}`);
    expect(own.output).toContain("inside-ok");
    const address = (s.network as { address: string }).address;
    sh("ip", "netns", "exec", UPSTREAM.ns, "ip", "route", "replace", NET.subnet, "via", UPSTREAM.host);
    const r = spawnSync(
      "ip",
      [
        "netns",
        "exec",
        UPSTREAM.ns,
        "curl",
        "-sS",
        "--connect-timeout",
        "2",
        "-m",
        "3",
        `http://${address}:${INSIDE}/`,
      ],
      { encoding: "utf8" },
    );
    expect(r.status, r.stdout + r.stderr).not.toBe(0);
    expect(r.stdout).not.toContain("inside-ok");
  });

  test("it reaches nothing on the host, on a private network, or in another container", async () => {
    const [a, b] = [sandboxes[0] ?? (await sandbox()), await sandbox()];
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
      ["a neighbour on the host's uplink (a directly connected network)", `http://${UPSTREAM.peer}:${PORT}/`],
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
    const a = sandboxes[0];
    const r = await run(
      a,
      `ip addr add ${STRAY}/24 dev eth0 && ${curl(`--interface ${STRAY} http://${INTERNET}:${PORT}/`)}`,
    );
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toContain("RTNETLINK answers: Operation not permitted");
    expect(r.output).not.toContain("upstream-ok");
    // Its own address still works.
    expect((await run(a, curl(`http://${INTERNET}:${PORT}/`))).output).toContain("upstream-ok");
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
        await run(sandboxes[0], "cat /etc/resolv.conf 2>/dev/null | grep -c nameserver || true")
      ).output.trim(),
    ).toBe("0");
  });

  test("sandboxes give their veth and address back; nothing is left on the bridge", async () => {
    for (const s of sandboxes.splice(0)) await s.destroy();
    expect(await cairnContainers({ lxcPath: LXC_PATH })).toEqual([]);
    // The kernel tears a dead container's network namespace (and its veth) down in the background.
    await until(
      "the veths to leave the bridge",
      async () => sh("ls", `/sys/class/net/${NET.bridge}/brif`).trim() === "",
      20_000,
    );
    expect(sh("nft", "list", "set", "bridge", `cairn_${NET.bridge}`, "ports")).not.toMatch(
      new RegExp(`10\\.231\\.${k}\\.`),
    );
  });

  test("a builder registered without --network runs jobs behind the NAT; a `network: none` project's get loopback only", async () => {
    server = await startTestServer();
    const job = (steps: string[]) =>
      `version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n${steps.map((s) => `      - run: ${JSON.stringify(s)}\n`).join("")}workflows:\n  w:\n    jobs: [build]\n`;
    const project = async (name: string, steps: string[]) => {
      const repo = createRepo();
      repos.push(repo);
      repo.commit({ ".circleci/config.yml": job(steps) });
      return (await (
        await server!.api("/api/v1/projects", { method: "POST", json: { name, repo_url: repo.bare } })
      ).json()) as { id: string; network: string };
    };
    const egress = await project("egress", [
      curl(`http://${INTERNET}:${PORT}/`),
      curl(`http://${GATEWAY}:${ALLOWED}/`),
      `! ${curl(`http://${GATEWAY}:${PORT}/`)}`,
      `! ${curl(`http://127.0.0.1:${PORT}/`)}`,
      `${curl(`telnet://${GATEWAY}:${SSH_PORT}`)} </dev/null || echo builder-port-unreachable`,
    ]);
    expect(egress.network).toBe("egress");
    const closed = await project("closed", [
      "ls /sys/class/net",
      `! ${curl(`http://${INTERNET}:${PORT}/`)}`,
      `! ${curl(`http://${GATEWAY}:${ALLOWED}/`)}`,
    ]);
    const patched = await server.api(`/api/v1/projects/${closed.id}`, {
      method: "PATCH",
      json: { network: "none" },
    });
    expect(((await patched.json()) as { network: string }).network).toBe("none");
    const bad = await server.api(`/api/v1/projects/${closed.id}`, {
      method: "PATCH",
      json: { network: "open" },
    });
    expect(bad.status).toBe(400);

    builder = await startBuilder({
      server: server.url,
      adminToken: server.token,
      name: "nat",
      sshd,
      // No --network: an LXC builder's default is the NAT bridge (here the test's own).
      extraArgs: [
        "--lxc-path",
        LXC_PATH,
        "--bridge",
        NET.bridge,
        "--subnet",
        NET.subnet,
        ...NET.allow!.flatMap((a) => ["--allow-egress", a]),
        "--ssh-listen",
        `${GATEWAY}:${SSH_PORT}`,
      ],
    });
    await until("the builder to start", async () => builder!.output().includes("polling"), 30_000);
    expect(builder.output()).toContain(`nat network on ${NET.bridge} (egress only)`);
    // The builder's own port answers the host, so its refusal below is the firewall's.
    const banner = spawnSync(
      "curl",
      ["-sS", "--connect-timeout", "2", "-m", "2", `telnet://${GATEWAY}:${SSH_PORT}`],
      {
        encoding: "utf8",
        input: "",
      },
    );
    expect(banner.stdout).toContain("SSH-2.0");

    const runJob = async (projectId: string) => {
      const pl = (await (
        await server!.api(`/api/v1/projects/${projectId}/pipelines`, {
          method: "POST",
          json: { branch: "main" },
        })
      ).json()) as { jobs: { id: string }[] };
      const id = pl.jobs[0].id;
      const done = await until("the job to finish", async (note) => {
        const j = (await (await server!.api(`/api/v1/jobs/${id}`)).json()) as { status: string };
        note(`job ${id} ${j.status}`);
        return !["queued", "running"].includes(j.status) && j;
      });
      const log = await (await server!.api(`/api/v1/jobs/${id}/log?format=text`)).text();
      expect(done.status, `${log}\n${builder!.output()}`).toBe("success");
      return log;
    };
    const out = await runJob(egress.id);
    expect(out).toContain(`Network: egress only (NAT) — 10.231.${k}.`);
    expect(out).toContain(`allowed past the blocks: ${NET.allow!.join(", ")}`);
    expect(out).toContain(`upstream-ok on ${PORT} from ${UPSTREAM.host}`);
    expect(out).toContain("mirror-ok");
    expect(out).toContain("builder-port-unreachable");
    expect(out).not.toContain("SSH-2.0");
    expect(out).not.toContain("host-ok");

    const none = await runJob(closed.id);
    expect(none).toContain("Network: none (loopback only) — the project's setting");
    expect(none).not.toContain("eth0");
    expect(none).not.toContain("-ok");
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
