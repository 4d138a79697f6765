import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { checkNetwork, natRuleset, parseAllowance, parseSubnet, vethPrefix } from "./lxc-network.ts";

describe("NAT network settings", () => {
  test("a subnet gives the host its first address and sandboxes the rest", () => {
    const s = parseSubnet("10.213.0.0/24");
    expect(s.gateway).toBe("10.213.0.1");
    expect(s.prefix).toBe(24);
    expect(s.candidates[0]).toBe("10.213.0.2");
    expect(s.candidates.at(-1)).toBe("10.213.0.254");
    expect(s.candidates.length).toBe(253);
    expect(parseSubnet("10.0.0.0/16").candidates.length).toBe(1024);
  });

  test.each([
    ["10.213.0.1/24", /host bits set .*10\.213\.0\.0\/24/],
    ["10.213.0.0", /IPv4 network/],
    ["10.0.0.0/8", /\/16 to \/29/],
    ["300.1.1.0/24", /IPv4 network/],
  ])("subnet %s is refused", (subnet, why) => {
    expect(() => parseSubnet(subnet)).toThrow(why);
  });

  test("bridge names, resolvers and extra denied ranges are checked", () => {
    const ok = { mode: "nat" as const, bridge: "cairn0", subnet: "10.213.0.0/24" };
    expect(checkNetwork({ ...ok, dns: ["9.9.9.9"], deny: ["203.0.113.0/24"] })).toBeTruthy();
    expect(() => checkNetwork({ ...ok, bridge: "eth0; rm -rf /" })).toThrow(/--bridge/);
    expect(() => checkNetwork({ ...ok, bridge: "a-very-long-bridge-name" })).toThrow(/--bridge/);
    expect(() => checkNetwork({ ...ok, dns: ["192.168.1.1"] })).toThrow(/cannot reach/);
    // A resolver on the LAN, once its port 53 is allowed.
    expect(checkNetwork({ ...ok, dns: ["192.168.1.1"], allow: ["192.168.1.1:53"] })).toBeTruthy();
    expect(() => checkNetwork({ ...ok, deny: ["nope"] })).toThrow(/--nat-deny/);
    expect(() => checkNetwork({ ...ok, mode: "bridge" as "nat" })).toThrow(/none or nat/);
  });

  test("--allow-egress takes ADDRESS:PORT or ADDRESS/PREFIX:PORT", () => {
    expect(parseAllowance("10.213.0.1:5000")).toEqual({ cidr: "10.213.0.1/32", port: 5000 });
    expect(parseAllowance("10.20.0.0/16:3128")).toEqual({ cidr: "10.20.0.0/16", port: 3128 });
    expect(() => parseAllowance("registry.internal:5000")).toThrow(/IPv4 address, not a name/);
    expect(() => parseAllowance("10.0.0.1")).toThrow(/ADDRESS:PORT/);
    expect(() => parseAllowance("10.0.0.1:70000")).toThrow(/port 1-65535/);
    expect(() => parseAllowance("10.0.0.1/16:80")).toThrow(/host bits set/);
    expect(() => parseAllowance("127.0.0.1:5000")).toThrow(/its own loopback/);
    const ok = { mode: "nat" as const, bridge: "cairn-a1b2", subnet: "10.213.0.0/24" };
    expect(checkNetwork({ ...ok, allow: ["10.213.0.1:5000"] })).toBeTruthy();
    expect(() => checkNetwork({ ...ok, allow: ["nope"] })).toThrow(/--allow-egress/);
  });

  test("allowances come before every block; the host's LANs are a set of their own", () => {
    const rules = natRuleset({
      mode: "nat",
      bridge: "cairn0",
      subnet: "10.213.0.0/24",
      allow: ["10.213.0.1:5000", "10.20.0.0/16:3128"],
    });
    const at = (text: string) => rules.indexOf(text);
    const allowHost =
      'iifname "cairn0" ip daddr 10.213.0.1/32 meta l4proto { tcp, udp } th dport 5000 accept';
    const allowNet = 'iifname "cairn0" ip daddr 10.20.0.0/16 meta l4proto { tcp, udp } th dport 3128 accept';
    // input: the allowance, then the drop of everything else to the host
    expect(at(allowHost)).toBeGreaterThan(-1);
    expect(at(allowHost)).toBeLessThan(at('iifname "cairn0" drop'));
    // forward: container to container first, then the allowances, then private ranges and the LANs
    const forward = rules.slice(at("chain forward"));
    expect(forward.indexOf('oifname "cairn0" drop')).toBeLessThan(forward.indexOf(allowNet));
    expect(forward.indexOf(allowNet)).toBeLessThan(forward.indexOf("ip daddr { 0.0.0.0/8"));
    expect(forward).toContain('iifname "cairn0" ip daddr @host_nets drop');
  });

  test("veth names fit IFNAMSIZ and differ per bridge", () => {
    expect(vethPrefix("cairn0")).toMatch(/^c[0-9a-f]{4}$/);
    expect(vethPrefix("cairn0")).not.toBe(vethPrefix("cairn1"));
  });

  test("the ruleset drops private, host and container destinations", () => {
    const rules = natRuleset({
      mode: "nat",
      bridge: "cairn0",
      subnet: "10.213.0.0/24",
      deny: ["203.0.113.0/24"],
    });
    for (const range of [
      "10.0.0.0/8",
      "172.16.0.0/12",
      "192.168.0.0/16",
      "100.64.0.0/10",
      "169.254.0.0/16",
      "127.0.0.0/8",
      "203.0.113.0/24",
    ]) {
      expect(rules).toContain(range);
    }
    expect(rules).toContain('iifname "cairn0" drop');
    expect(rules).toContain("masquerade");
  });

  const root = process.getuid?.() === 0 && spawnSync("nft", ["--version"]).status === 0;
  test.skipIf(!root)("nft accepts the ruleset (check mode: nothing is changed)", () => {
    const rules = natRuleset({
      mode: "nat",
      bridge: "cairnchk0",
      subnet: "10.213.0.0/24",
      deny: ["203.0.113.0/24"],
      allow: ["10.213.0.1:5000", "10.20.0.0/16:3128"],
    });
    const r = spawnSync("nft", ["-c", "-f", "-"], { input: rules });
    expect(r.stderr.toString()).toBe("");
    expect(r.status).toBe(0);
  });
});
