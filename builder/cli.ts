// cairn-builder: `register` with a one-time token, then `run` to serve jobs.
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import nacl from "tweetnacl";
import pkg from "../package.json" with { type: "json" };
import { openSealedSecrets, sealForBuilder } from "../protocol/index.ts";
import { ServerClient } from "./client.ts";
import { startDaemon } from "./daemon.ts";
import { checkNetwork, NetworkError } from "./driver/lxc-network.ts";
import { checkDistinct, HostSpecError, parseHostSpec } from "./hosts/spec.ts";
import {
  type BuilderIdentity,
  type HostConfig,
  type ImagesConfig,
  loadIdentity,
  type NetworkConfig,
  REGISTRY_CREDENTIALS_CONTEXT,
  saveIdentity,
  type TransportConfig,
} from "./identity.ts";
import { parseImageRef, rewriteImage } from "./images/reference.ts";
import { DEFAULT_IMAGE_PACKAGES, ImageStore } from "./images/store.ts";
import { parseSlots, ResourceClassError, readResourceClasses, resolveResourceClasses } from "./resources.ts";
import { generateHostKey } from "./ssh-server.ts";
import { createLocalTransport } from "./transport/local.ts";

const USAGE = `usage:
  cairn-builder register --server URL --token T [--config FILE] [--name NAME] [--slots N|auto]
                         [--driver auto|lxc|process] [--template NAME]
                         [--ca FILE] [--insecure-http]
                         [--ssh-listen HOST:PORT [--ssh-advertise HOST] [--ssh-confirm-within SECONDS]]
                             (SSH into builds; a session the server has not confirmed for SECONDS, 30, ends)
                         [--lxc-path DIR]   (LXC's container directory, default /var/lib/lxc)
                         [--ssh-host H --ssh-port P --ssh-user U --ssh-key FILE --ssh-host-key KEY]
                         [--lxc-host SPEC]...   (several LXC hosts; instead of --ssh-*, --slots, --lxc-path)
                             SPEC: [user@]host[:port],key=FILE,host-key=KEY[,slots=N][,lxc-path=DIR][,memory-mb=N]
                                   or local[,slots=N][,lxc-path=DIR]
                         [--network nat|none]   (LXC default: nat, egress only; none: loopback only)
                         [--bridge cairn0] [--subnet 10.213.0.0/24] [--nat-dns IP]... [--nat-deny CIDR]...
                         [--allow-egress ADDRESS[/N]:PORT]...   (a mirror past the blocks, even on the host)
                         [--insecure-registry HOST:PORT]...   (plain-HTTP registries on a trusted network)
                         [--image-mirror PATTERN=TARGET]...   (e.g. 'cimg/*=mirror.internal/cimg/*')
                         [--image-dir DIR] [--image-resolve-minutes N] [--image-cache-mb N]
                         [--default-image NAME | --default-template NAME]   (machine: jobs and jobs with no image)
                         [--resource-classes FILE]   (JSON, or YAML if .yaml/.yml: name → {cpus, memory,
                             pids, disk, network: none}, over CircleCI's small … 2xlarge; e.g. acme/big-disk)
  cairn-builder run [--config FILE] [--insecure-registry HOST:PORT]... [--allow-egress ADDRESS[/N]:PORT]...
                    [--resource-classes FILE]   (for this run, instead of those registered)
  cairn-builder registry-login --registry HOST[:PORT] --username USER [--config FILE]   (password on stdin)
  cairn-builder image build-default [--suite bookworm] [--name cairn/debian:SUITE] [--mirror URI]
                         [--packages a,b,c] [--cache DIR] [--image-dir DIR | --config FILE]
                             (a Debian image from mmdebstrap: what machine: jobs run on)
  cairn-builder version`;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const sub = command === "image" ? rest.shift() : undefined;
  const { values } = parseArgs({
    args: rest,
    options: {
      server: { type: "string" },
      token: { type: "string" },
      config: { type: "string", default: "builder.json" },
      name: { type: "string" },
      slots: { type: "string" },
      driver: { type: "string", default: "auto" },
      template: { type: "string" },
      "ssh-host": { type: "string" },
      "ssh-port": { type: "string" },
      "ssh-user": { type: "string", default: "root" },
      "ssh-key": { type: "string" },
      "ssh-host-key": { type: "string" },
      "ssh-listen": { type: "string" },
      "lxc-path": { type: "string" },
      "ssh-advertise": { type: "string" },
      "ssh-confirm-within": { type: "string" },
      ca: { type: "string" },
      "insecure-http": { type: "boolean", default: false },
      "lxc-host": { type: "string", multiple: true },
      network: { type: "string" },
      bridge: { type: "string", default: "cairn0" },
      subnet: { type: "string", default: "10.213.0.0/24" },
      "nat-dns": { type: "string", multiple: true },
      "nat-deny": { type: "string", multiple: true },
      "allow-egress": { type: "string", multiple: true },
      "insecure-registry": { type: "string", multiple: true },
      "image-mirror": { type: "string", multiple: true },
      "image-dir": { type: "string" },
      "image-resolve-minutes": { type: "string" },
      "image-cache-mb": { type: "string" },
      registry: { type: "string" },
      username: { type: "string" },
      "default-image": { type: "string" },
      "default-template": { type: "string" },
      suite: { type: "string" },
      mirror: { type: "string" },
      packages: { type: "string" },
      cache: { type: "string" },
      "resource-classes": { type: "string" },
    },
    strict: true,
  });
  switch (command) {
    case "version":
      console.log(pkg.version);
      return 0;
    case "register": {
      if (!values.server || !values.token) throw new UsageError("register needs --server and --token");
      let slots = parseSlots(values.slots ?? "1") ?? 0;
      if (!slots) throw new UsageError("--slots must be 1 to 256, or auto (from cores and memory)");
      const driver = values.driver as BuilderIdentity["driver"];
      if (!["auto", "lxc", "process"].includes(driver))
        throw new UsageError("--driver must be auto, lxc or process");
      const hosts = lxcHosts(values);
      if (hosts) slots = hosts.reduce((n, h) => n + h.slots, 0);
      // Egress-only NAT is an LXC builder's default; the process driver has no container to put on a bridge.
      if (driver === "process" && values.network === "nat")
        throw new UsageError("--lxc-host and --network nat need LXC: leave --driver at auto or lxc");
      const network = networkSettings({
        ...values,
        network: values.network ?? (driver === "process" ? "none" : "nat"),
      });
      const images = imagesConfig(values);
      const classes = resourceClasses(values["resource-classes"]);
      if (hosts && driver === "process")
        throw new UsageError("--lxc-host and --network nat need LXC: leave --driver at auto or lxc");
      for (const h of hosts ?? []) if (h.transport.kind === "ssh") readKeyFile(h.transport.private_key_file);
      let transport: TransportConfig = { kind: "local" };
      if (values["ssh-host"]) {
        if (!values["ssh-key"] || !values["ssh-host-key"]) {
          throw new UsageError("--ssh-host needs --ssh-key and --ssh-host-key (the host key is pinned)");
        }
        transport = {
          kind: "ssh",
          host: values["ssh-host"],
          port: values["ssh-port"] ? Number(values["ssh-port"]) : 22,
          username: values["ssh-user"]!,
          private_key_file: values["ssh-key"],
          host_key: values["ssh-host-key"],
        };
      }
      const serverCa = values.ca ? readCa(values.ca) : undefined;
      checkServerUrl(values.server, values["insecure-http"]!);
      const keys = nacl.box.keyPair();
      const name = values.name ?? hostname();
      const client = new ServerClient(values.server, undefined, { ca: serverCa });
      const r = await client.register({
        registration_token: values.token,
        name,
        public_key: b64(keys.publicKey),
        slots,
        driver: driver === "process" ? "process" : "lxc",
      });
      await saveIdentity(values.config!, {
        server: values.server,
        builder_id: r.builder_id,
        token: r.token,
        name,
        box_public_key: b64(keys.publicKey),
        box_secret_key: b64(keys.secretKey),
        slots,
        driver,
        transport,
        template: values.template,
        lxc_path: values["lxc-path"],
        ...(hosts ? { hosts, driver: "lxc" as const } : {}),
        ...(network ? { network } : {}),
        ...images,
        ...(classes ? { resource_classes: classes } : {}),
        ...sshServerSettings(values["ssh-listen"], values["ssh-advertise"], values["ssh-confirm-within"]),
        ...(serverCa ? { server_ca: serverCa } : {}),
        ...(values["insecure-http"] ? { insecure_http: true } : {}),
      });
      console.log(`cairn-builder: registered as ${name} (${r.builder_id}); identity in ${values.config}`);
      return 0;
    }
    case "run": {
      // For this run only (npm start passes CAIRN_INSECURE_REGISTRIES so).
      const insecure = registryHosts(values["insecure-registry"]);
      const id = await loadIdentity(values.config!);
      // Also for this run only (npm start passes CAIRN_RESOURCE_CLASSES so): the classes from a file.
      const classes = resourceClasses(values["resource-classes"]);
      if (classes) id.resource_classes = classes;
      else checkStoredClasses(id.resource_classes, values.config!);
      if (insecure.length)
        id.images = {
          ...id.images,
          insecure_registries: [...new Set([...(id.images?.insecure_registries ?? []), ...insecure])],
        };
      // Also for this run only (npm start passes CAIRN_ALLOW_EGRESS so): more holes in the NAT's blocks.
      const allow = values["allow-egress"] ?? [];
      if (allow.length) {
        if (!id.network)
          throw new UsageError("--allow-egress needs a builder with the NAT network (not --network none)");
        id.network = networkSettings({
          network: "nat",
          bridge: id.network.bridge,
          subnet: id.network.subnet,
          "nat-dns": id.network.dns,
          "nat-deny": id.network.deny,
          "allow-egress": [...new Set([...(id.network.allow ?? []), ...allow])],
        });
      }
      // Checkouts must be readable by the build's own users, whatever umask started us.
      process.umask(0o022);
      checkServerUrl(id.server, Boolean(id.insecure_http));
      const daemon = await startDaemon(id, new ServerClient(id.server, id.token, { ca: id.server_ca }));
      const shutdown = () => {
        console.log("cairn-builder: stopping after running jobs end");
        daemon.stop();
      };
      process.on("SIGINT", shutdown);
      process.on("SIGTERM", shutdown);
      await daemon.done;
      return 0;
    }
    case "registry-login": {
      const registry = values.registry;
      if (!registry || !values.username)
        throw new UsageError("registry-login needs --registry and --username");
      registryHosts([registry]);
      const password = (await readStdin()).replace(/\r?\n$/, "");
      if (!password) throw new UsageError("registry-login reads the password from stdin; it was empty");
      const id = await loadIdentity(values.config!);
      const held = id.images?.credentials
        ? openSealedSecrets(id.images.credentials, id.box_secret_key, REGISTRY_CREDENTIALS_CONTEXT)
        : {};
      held[registry] = JSON.stringify({ username: values.username, password });
      const credentials = sealForBuilder(id.box_public_key, held, REGISTRY_CREDENTIALS_CONTEXT);
      await saveIdentity(values.config!, { ...id, images: { ...id.images, credentials } });
      console.log(`cairn-builder: credentials for ${registry} sealed into ${values.config}`);
      return 0;
    }
    case "image": {
      if (sub !== "build-default") throw new UsageError("image: the subcommand is build-default");
      return await buildDefaultImage(values);
    }
    default:
      throw new UsageError(command ? `unknown command ${command}` : "a command is required");
  }
}

class UsageError extends Error {}

const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * `image build-default`: the Debian image `machine:` jobs run on, built on this host (the fleet
 * host: run it on each) into the store `--image-dir`, or the one the identity `--config` names.
 */
async function buildDefaultImage(values: {
  config?: string;
  "image-dir"?: string;
  "lxc-path"?: string;
  template?: string;
  suite?: string;
  name?: string;
  mirror?: string;
  packages?: string;
  cache?: string;
}): Promise<number> {
  let dir = values["image-dir"];
  if (!dir && existsSync(values.config!)) dir = (await loadIdentity(values.config!)).images?.dir;
  if (dir && !dir.startsWith("/")) throw new UsageError("--image-dir must be an absolute path");
  const suite = values.suite ?? "bookworm";
  if (!/^[a-z][a-z0-9-]{1,30}$/.test(suite))
    throw new UsageError(`--suite ${suite} is not a Debian suite name`);
  const name = values.name ?? `cairn/debian:${suite}`;
  try {
    parseImageRef(name);
  } catch (err) {
    throw new UsageError(`--name: ${(err as Error).message}`);
  }
  const packages = values.packages?.split(",").filter(Boolean) ?? DEFAULT_IMAGE_PACKAGES;
  if (!packages.every((p) => /^[a-z0-9][a-z0-9+.-]+$/.test(p)))
    throw new UsageError(`--packages ${values.packages} is not a comma-separated list of Debian packages`);
  if (values.mirror && !/^(https?|file):\/\/\S+$/.test(values.mirror))
    throw new UsageError(`--mirror ${values.mirror} is not an http(s):// or file:// URI`);
  const store = new ImageStore(createLocalTransport(), { dir }, { baseTemplate: "cairn-base" });
  console.log(
    `cairn-builder: building ${name} from Debian ${suite} with mmdebstrap (${packages.join(", ")})`,
  );
  const built = await store.buildDefault({
    suite,
    name,
    packages,
    mirror: values.mirror,
    cacheDir: values.cache,
  });
  console.log(
    `cairn-builder: ${built.name} is ${built.digest} (root filesystem ${built.tarball}, from ${built.mirror}); ` +
      "machine: jobs and jobs with no image run on it unless the builder has --default-image or --default-template",
  );
  return 0;
}

/** `--resource-classes FILE`, read and checked now: a mistake stops the builder at start. */
function resourceClasses(path: string | undefined) {
  if (path === undefined) return undefined;
  try {
    return readResourceClasses(path);
  } catch (err) {
    if (err instanceof ResourceClassError) throw new UsageError(`--resource-classes ${err.message}`);
    throw err;
  }
}

/** Classes registered earlier, or written into the identity by hand, are checked as a file's are. */
function checkStoredClasses(specs: unknown, config: string): void {
  try {
    resolveResourceClasses(specs);
  } catch (err) {
    if (err instanceof ResourceClassError) throw new Error(`${config} resource_classes: ${err.message}`);
    throw err;
  }
}

const REGISTRY_HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$/;

function registryHosts(hosts: string[] | undefined): string[] {
  for (const h of hosts ?? [])
    if (!REGISTRY_HOST.test(h))
      throw new UsageError(`--insecure-registry/--registry ${h} is not HOST or HOST:PORT`);
  return hosts ?? [];
}

/** The `images` block of builder.json from the register flags; omitted when none was given. */
function imagesConfig(values: {
  "insecure-registry"?: string[];
  "image-mirror"?: string[];
  "image-dir"?: string;
  "image-resolve-minutes"?: string;
  "image-cache-mb"?: string;
  "default-image"?: string;
  "default-template"?: string;
}): { images?: ImagesConfig } {
  const images: ImagesConfig = {};
  const insecure = registryHosts(values["insecure-registry"]);
  if (insecure.length) images.insecure_registries = insecure;
  for (const m of values["image-mirror"] ?? []) {
    const [pattern, target] = m.split("=");
    if (!pattern || !target || m.split("=").length !== 2)
      throw new UsageError(
        `--image-mirror ${m} is not PATTERN=TARGET (e.g. 'cimg/*=mirror.internal/cimg/*')`,
      );
    try {
      rewriteImage(pattern.replace("*", "x"), { [pattern]: target });
    } catch (err) {
      throw new UsageError(`--image-mirror ${m}: ${(err as Error).message}`);
    }
    images.mirrors = { ...images.mirrors, [pattern]: target };
  }
  if (values["image-dir"]) {
    if (!values["image-dir"].startsWith("/")) throw new UsageError("--image-dir must be an absolute path");
    images.dir = values["image-dir"];
  }
  const num = (flag: "image-resolve-minutes" | "image-cache-mb", min: number) => {
    const v = values[flag];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new UsageError(`--${flag} must be a number, at least ${min}`);
    return n;
  };
  if (values["default-image"] && values["default-template"])
    throw new UsageError("--default-image and --default-template are two answers to one question: give one");
  if (values["default-image"]) {
    try {
      parseImageRef(values["default-image"]);
    } catch (err) {
      throw new UsageError(`--default-image: ${(err as Error).message}`);
    }
    images.default_image = values["default-image"];
  }
  if (values["default-template"]) {
    if (!TEMPLATE_NAME.test(values["default-template"]))
      throw new UsageError(`--default-template ${values["default-template"]} is not a container name`);
    images.default_template = values["default-template"];
  }
  const minutes = num("image-resolve-minutes", 0);
  if (minutes !== undefined) images.resolve_minutes = minutes;
  const mb = num("image-cache-mb", 1);
  if (mb !== undefined) images.budget_mb = mb;
  return Object.keys(images).length ? { images } : {};
}

/** `--lxc-host` list, or undefined for the single host of the older flags (which it replaces). */
function lxcHosts(values: {
  "lxc-host"?: string[];
  "ssh-host"?: string;
  slots?: string;
  "lxc-path"?: string;
}): HostConfig[] | undefined {
  const specs = values["lxc-host"];
  if (!specs?.length) return undefined;
  for (const flag of ["ssh-host", "slots", "lxc-path"] as const) {
    if (values[flag] !== undefined)
      throw new UsageError(`--${flag} cannot be combined with --lxc-host: give it per host in the SPEC`);
  }
  try {
    const hosts = specs.map(parseHostSpec);
    checkDistinct(hosts);
    return hosts;
  } catch (err) {
    if (err instanceof HostSpecError) throw new UsageError(err.message);
    throw err;
  }
}

/** The daemon reads each host's key when it starts: say now if it cannot. */
function readKeyFile(path: string): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`--lxc-host key=${path}: ${(err as Error).message}`);
  }
  if (!text.includes("PRIVATE KEY")) throw new UsageError(`--lxc-host key=${path} is not a private key`);
}

function networkSettings(values: {
  network?: string;
  bridge?: string;
  subnet?: string;
  "nat-dns"?: string[];
  "nat-deny"?: string[];
  "allow-egress"?: string[];
}): NetworkConfig | undefined {
  if (values.network === "none") {
    if (values["nat-dns"] || values["nat-deny"] || values["allow-egress"])
      throw new UsageError("--nat-dns, --nat-deny and --allow-egress need --network nat");
    return undefined;
  }
  try {
    return checkNetwork({
      mode: values.network as "nat",
      bridge: values.bridge!,
      subnet: values.subnet!,
      ...(values["nat-dns"] ? { dns: values["nat-dns"] } : {}),
      ...(values["nat-deny"] ? { deny: values["nat-deny"] } : {}),
      ...(values["allow-egress"] ? { allow: values["allow-egress"] } : {}),
    });
  } catch (err) {
    if (err instanceof NetworkError) throw new UsageError(err.message);
    throw err;
  }
}

function readCa(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`--ca ${path}: ${(err as Error).message}`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----"))
    throw new UsageError(`--ca ${path} is not a PEM certificate`);
  return pem;
}

/** The builder token and job secrets travel on this connection: plain HTTP only to this machine, or when told. */
function checkServerUrl(server: string, insecureHttp: boolean): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new UsageError(`--server ${server} is not a URL`);
  }
  if (url.protocol === "https:") return;
  if (url.protocol !== "http:")
    throw new UsageError("--server must be an https:// (or loopback http://) URL");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const loopback = host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (!loopback && !insecureHttp) {
    throw new UsageError(
      `refusing plain HTTP to ${url.host}: the builder token and job secrets would cross the network unencrypted; ` +
        "use the server's https:// URL with --ca FILE, or pass --insecure-http to accept the risk",
    );
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      const usage =
        err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
      console.error(`cairn-builder: ${(err as Error).message}${usage ? `\n\n${USAGE}` : ""}`);
      process.exit(usage ? 2 : 1);
    },
  );
}

/** `--ssh-listen HOST:PORT` turns on SSH into builds, with a host key made now. */
function sshServerSettings(
  listen: string | undefined,
  advertise: string | undefined,
  confirmWithin: string | undefined,
) {
  if (!listen) {
    if (confirmWithin !== undefined) throw new UsageError("--ssh-confirm-within needs --ssh-listen");
    return {};
  }
  const m = /^(.+):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--ssh-listen must be HOST:PORT, got ${listen}`);
  const within = confirmWithin === undefined ? undefined : Number(confirmWithin);
  if (within !== undefined && !(Number.isInteger(within) && within >= 1 && within <= 3600))
    throw new UsageError(`--ssh-confirm-within must be 1 to 3600 seconds, got ${confirmWithin}`);
  return {
    ssh_listen: listen,
    ssh_advertise: advertise,
    ...(within !== undefined ? { ssh_confirm_within_s: within } : {}),
    ssh_host_key: generateHostKey(),
  };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
