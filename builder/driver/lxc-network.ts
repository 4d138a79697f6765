// The egress-only NAT bridge of LXC sandboxes (an LXC builder's default; `--network none`: loopback only).
// On each host the daemon keeps a bridge with the subnet's first address, IPv4 forwarding and one
// nftables table per family: containers are masqueraded out, and DROPPED on their way to the host
// itself, to the host's directly connected networks, to private, shared, link-local and loopback
// ranges, to each other, and to whatever the operator adds — except the `--allow-egress`
// ADDRESS[/N]:PORT entries. Each sandbox gets a veth on the bridge, put into its network namespace from the
// host side after it starts, with an address the host records on the veth (so a crashed daemon
// leaks nothing: the veth dies with the container). See docs/fleet-host.md.
import type { NetworkConfig } from "../identity.ts";
import type { HostTransport } from "./types.ts";

export class NetworkError extends Error {
  readonly code = "network_failed";
  constructor(message: string) {
    super(message);
    this.name = "NetworkError";
  }
}

/** Destinations a container may never reach, whatever it was given. */
export const DENIED_RANGES = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "224.0.0.0/4",
  "240.0.0.0/4",
];

const BRIDGE_NAME = /^[a-z][a-z0-9_-]{0,14}$/;
const MAX_CANDIDATES = 1024;

export interface Subnet {
  /** `10.213.0.0/24` */
  cidr: string;
  prefix: number;
  /** The host's address on the bridge: the subnet's first. */
  gateway: string;
  /** Addresses sandboxes may get, in order. */
  candidates: string[];
}

const toInt = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
const toIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");

function parseIpv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return toInt(text);
}

/** An IPv4 network in CIDR form, its host part zero; throws with what is wrong. */
export function parseCidr(text: string, what: string): { base: number; prefix: number; cidr: string } {
  const [ip, bits, extra] = text.split("/");
  const base = parseIpv4(ip ?? "");
  const prefix = Number(bits);
  if (base === undefined || extra !== undefined || !/^\d{1,2}$/.test(bits ?? "") || prefix > 32) {
    throw new NetworkError(`${what} must be an IPv4 network like 10.213.0.0/24, got ${JSON.stringify(text)}`);
  }
  if (base % 2 ** (32 - prefix) !== 0) {
    throw new NetworkError(
      `${what} ${text} has host bits set (did you mean ${toIp(base - (base % 2 ** (32 - prefix)))}/${prefix}?)`,
    );
  }
  return { base, prefix, cidr: text };
}

export function parseSubnet(text: string): Subnet {
  const { base, prefix, cidr } = parseCidr(text, "--subnet");
  if (prefix < 16 || prefix > 29) throw new NetworkError(`--subnet must be a /16 to /29, got /${prefix}`);
  const size = 2 ** (32 - prefix);
  const candidates: string[] = [];
  for (let n = base + 2; n < base + size - 1 && candidates.length < MAX_CANDIDATES; n++)
    candidates.push(toIp(n));
  return { cidr, prefix, gateway: toIp(base + 1), candidates };
}

/** One `--allow-egress` entry: an IPv4 address or network and a port (TCP and UDP). */
export interface EgressAllowance {
  cidr: string;
  port: number;
}

/** `10.0.0.5:5000` or `10.0.5.0/24:3128`; throws with what is wrong. */
export function parseAllowance(text: string): EgressAllowance {
  const m = /^([^:]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) {
    throw new NetworkError(
      `--allow-egress must be ADDRESS:PORT or ADDRESS/PREFIX:PORT (IPv4, port 1-65535), got ${JSON.stringify(text)}`,
    );
  }
  const cidr = m[1].includes("/") ? m[1] : `${m[1]}/32`;
  if (parseIpv4(cidr.split("/")[0]) === undefined) {
    throw new NetworkError(
      `--allow-egress takes an IPv4 address, not a name (the rules hold addresses): got ${JSON.stringify(m[1])}`,
    );
  }
  const { base } = parseCidr(cidr, "--allow-egress");
  if (inCidr(base, "127.0.0.0/8")) {
    throw new NetworkError(
      `--allow-egress ${text}: 127.0.0.0/8 in a container is its own loopback; have the service listen on the bridge's address (the subnet's first) and allow that`,
    );
  }
  return { cidr, port };
}

/** Checks a network setting as the CLI takes it; returns it normalised. */
export function checkNetwork(net: NetworkConfig): NetworkConfig {
  if (net.mode !== "nat")
    throw new NetworkError(`--network must be none or nat, got ${JSON.stringify(net.mode)}`);
  if (!BRIDGE_NAME.test(net.bridge)) {
    throw new NetworkError(
      `--bridge must be 1 to 15 lowercase letters, digits, '_' or '-', starting with a letter; got ${JSON.stringify(net.bridge)}`,
    );
  }
  parseSubnet(net.subnet);
  for (const d of net.deny ?? []) parseCidr(d, "--nat-deny");
  const allowed = (net.allow ?? []).map(parseAllowance);
  for (const r of net.dns ?? []) {
    const n = parseIpv4(r);
    if (n === undefined)
      throw new NetworkError(`--nat-dns must be an IPv4 address, got ${JSON.stringify(r)}`);
    const opened = allowed.some((a) => a.port === 53 && inCidr(n, a.cidr));
    if (!opened && DENIED_RANGES.some((c) => inCidr(n, c))) {
      throw new NetworkError(
        `--nat-dns ${r} is in a range containers cannot reach (${DENIED_RANGES.join(", ")}); give a public resolver, or open it with --allow-egress ${r}:53`,
      );
    }
  }
  return net;
}

function inCidr(ip: number, cidr: string): boolean {
  const { base, prefix } = parseCidr(cidr, "range");
  return Math.floor(ip / 2 ** (32 - prefix)) === Math.floor(base / 2 ** (32 - prefix));
}

const table = (net: NetworkConfig) => `cairn_${net.bridge}`;

/**
 * Sandbox veths on one bridge share a prefix made from the bridge's name (`c` + 4 hex): bridge
 * rules match ports by it (this kernel's nftables may lack `meta ibrname`). 13 characters in all.
 */
export function vethPrefix(bridge: string): string {
  let h = 0x811c9dc5;
  for (const c of bridge) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return `c${(h & 0xffff).toString(16).padStart(4, "0")}`;
}

/**
 * The nftables rules for one bridge, replacing any older version of them in one transaction. The
 * bridge table is flushed, not deleted: its set keeps the addresses of sandboxes still running
 * when a reconnecting daemon sets the host up again.
 */
export function natRuleset(net: NetworkConfig): string {
  const { cidr } = parseSubnet(net.subnet);
  const br = JSON.stringify(net.bridge);
  const t = table(net);
  const denied = [...DENIED_RANGES, cidr, ...(net.deny ?? [])].join(", ");
  const ports = JSON.stringify(`${vethPrefix(net.bridge)}*`);
  // The operator's exceptions, to the host (a mirror on the bridge's address) or beyond it.
  const allow = (net.allow ?? [])
    .map(parseAllowance)
    .map((a) => `    iifname ${br} ip daddr ${a.cidr} meta l4proto { tcp, udp } th dport ${a.port} accept\n`)
    .join("");
  return `table inet ${t}
delete table inet ${t}
table inet ${t} {
  # the host's directly connected networks (its LANs): filled in by ensureNatNetwork
  set host_nets {
    type ipv4_addr
    flags interval
    auto-merge
  }
  chain input {
    type filter hook input priority filter; policy accept;
${allow}    # nothing else from a container reaches the host itself, on any of its addresses
    iifname ${br} drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname ${br} meta nfproto ipv6 drop
    oifname ${br} meta nfproto ipv6 drop
    iifname ${br} ip saddr != ${cidr} drop
    iifname ${br} oifname ${br} drop
${allow}    iifname ${br} ip daddr { ${denied} } drop
    iifname ${br} ip daddr @host_nets drop
    # into the bridge only what answers a container's own connection
    oifname ${br} ct state != { established, related } drop
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${cidr} oifname != ${br} masquerade
  }
}
table bridge ${t}
flush table bridge ${t}
table bridge ${t} {
  # veth . address of each sandbox: a container cannot send as another address
  set ports {
    type ifname . ipv4_addr
  }
  chain prerouting {
    type filter hook prerouting priority filter; policy accept;
    iifname != ${ports} accept
    ether type != { ip, arp } drop
    ether type ip iifname . ip saddr != @ports drop
    ether type arp iifname . arp saddr ip != @ports drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    # no frame from one container's port to another's (frames for the host take the input hook)
    iifname ${ports} drop
  }
}
`;
}

/**
 * $1 = bridge, $2 = gateway/prefix; the ruleset on stdin. Idempotent. Forwarding is turned on
 * for the NAT; when it was off, the host keeps routing nothing but the bridge's traffic.
 */
const ENSURE = [
  "set -e",
  'br=$1; gw=$2; t="cairn_$br"',
  "for c in nft ip nsenter flock; do",
  '  command -v "$c" >/dev/null 2>&1 || { echo "$c not found on the host (apt-get install -y nftables iproute2 util-linux)"; exit 2; }',
  "done",
  'ip link show dev "$br" >/dev/null 2>&1 || ip link add name "$br" type bridge',
  '[ -d "/sys/class/net/$br/bridge" ] || { echo "$br exists and is not a bridge"; exit 2; }',
  'have=$(ip -4 -o addr show dev "$br" | while read -r _ _ _ a _; do echo "$a"; done)',
  'for a in $have; do [ "$a" = "$gw" ] || { echo "bridge $br has address $a, not $gw: choose another bridge or subnet"; exit 2; }; done',
  '[ -n "$have" ] || ip addr add "$gw" dev "$br"',
  'ip link set "$br" up',
  'mark="/run/cairn-net-$br.forwarding-was-off"',
  'if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then : >"$mark"; echo 1 >/proc/sys/net/ipv4/ip_forward; fi',
  "nft -f -",
  'if [ -e "$mark" ]; then nft add rule inet "$t" forward iifname != "$br" oifname != "$br" drop; fi',
  // The host's LANs as routed now (the bridge's own subnet is denied already).
  'nets=$(ip -4 -o route show scope link | while read -r d _ dev _; do case "$dev:$d" in "$br:"*) ;; *:[0-9]*) echo "$d" ;; esac; done | sort -u | paste -sd, -)',
  'if [ -n "$nets" ]; then nft add element inet "$t" host_nets "{ $nets }"; fi',
].join("\n");

/** Makes (or re-checks) the bridge, forwarding and rules on a host. */
export async function ensureNatNetwork(transport: HostTransport, net: NetworkConfig): Promise<void> {
  const subnet = parseSubnet(net.subnet);
  const r = await transport.exec(
    ["sh", "-c", ENSURE, "cairn-net", net.bridge, `${subnet.gateway}/${subnet.prefix}`],
    {
      stdin: natRuleset(net),
    },
  );
  if (r.code !== 0) {
    throw new NetworkError(`cannot set up the NAT bridge ${net.bridge}: ${(r.stdout + r.stderr).trim()}`);
  }
}

/**
 * $1 = container, $2 = bridge, $3 = prefix length, $4 = gateway, $5 = lxcpath or "", $6 = veth
 * prefix, then the candidate addresses. Under a lock per bridge: the first address no veth on the bridge carries
 * (its ifalias) is taken. Prints `ADDRESS VETH`.
 */
const ATTACH = [
  "set -e",
  "n=$1; br=$2; len=$3; gw=$4; lp=$5; pre=$6; shift 6",
  'if [ -n "$lp" ]; then pid=$(lxc-info -P "$lp" -n "$n" -pH); else pid=$(lxc-info -n "$n" -pH); fi',
  '[ -n "$pid" ] || { echo "container $n has no init process"; exit 2; }',
  "mkdir -p /run/lock",
  'exec 9>"/run/lock/cairn-net-$br.lock"',
  "flock 9",
  'used=" "',
  'for l in /sys/class/net/"$br"/brif/*; do [ -e "$l" ] && used="$used$(cat "/sys/class/net/${l##*/}/ifalias" 2>/dev/null) "; done',
  "addr=",
  'for a in "$@"; do case "$used" in *" $a "*) ;; *) addr=$a; break ;; esac; done',
  '[ -n "$addr" ] || { echo "no free address left on $br"; exit 3; }',
  "v=$pre$(od -An -N4 -tx1 /dev/urandom | tr -d ' \\n')",
  'ip link add "$v" type veth peer name eth0 netns "$pid"',
  'ip link set "$v" alias "$addr"',
  'ip link set "$v" master "$br"',
  'nft add element bridge "cairn_$br" ports "{ $v . $addr }"',
  'nsenter -t "$pid" -n sh -c \'echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6; ip addr add "$1" dev eth0 && ip link set eth0 up && ip route add default via "$2"\' cairn-net "$addr/$len" "$gw"',
  'ip link set "$v" up',
  'echo "$addr $v"',
].join("\n");

export interface NatAttachment {
  address: string;
  veth: string;
}

/** Gives a running container its veth and address on the bridge. */
export async function attachNat(
  transport: HostTransport,
  net: NetworkConfig,
  container: string,
  lxcPath: string | undefined,
): Promise<NatAttachment> {
  const subnet = parseSubnet(net.subnet);
  const r = await transport.exec([
    "sh",
    "-c",
    ATTACH,
    "cairn-net",
    container,
    net.bridge,
    String(subnet.prefix),
    subnet.gateway,
    lxcPath ?? "",
    vethPrefix(net.bridge),
    ...subnet.candidates,
  ]);
  const m = /^(\S+) (c[0-9a-f]{12})$/m.exec(r.stdout);
  if (r.code !== 0 || !m) {
    throw new NetworkError(`cannot attach ${container} to ${net.bridge}: ${(r.stdout + r.stderr).trim()}`);
  }
  return { address: m[1], veth: m[2] };
}

/** Forgets a destroyed sandbox's address in the bridge's anti-spoofing set (its veth is gone with it). */
export async function detachNat(
  transport: HostTransport,
  net: NetworkConfig,
  a: NatAttachment,
): Promise<void> {
  await transport.exec([
    "nft",
    "delete",
    "element",
    "bridge",
    table(net),
    "ports",
    `{ ${a.veth} . ${a.address} }`,
  ]);
}

/** /etc/resolv.conf for a NAT sandbox: the host offers no DNS, so only the resolvers given. */
export function resolvConf(net: NetworkConfig): string {
  return (net.dns ?? []).map((r) => `nameserver ${r}\n`).join("");
}
