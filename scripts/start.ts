// `npm start`: the server with its embedded database, plus a local builder attached to it.
// First start creates data/ (master key, database, the first admin's API token) and registers the
// local builder (identity in data/builder.json). LXC is used where this machine can run it.
// `npm start -- --slots N|auto` sets how many jobs the local builder runs at once (default: from
// the cores and memory), `--ssh-port P` the loopback port of its SSH server for "Re-run with SSH",
// `--driver process` keeps it off LXC.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { eq } from "drizzle-orm";
import { loadIdentity, saveIdentity } from "../builder/identity.ts";
import { parseSlots } from "../builder/resources.ts";
import { generateHostKey } from "../builder/ssh-server.ts";
import { configFromEnv } from "../server/bootstrap.ts";
import { serve } from "../server/cli.ts";
import { openDb } from "../server/db/client.ts";
import { builders } from "../server/db/schema.ts";
import { createRegistrationToken } from "../server/services/builders.ts";
import { tlsFiles } from "../server/tls/self-signed.ts";

const root = join(import.meta.dir, "..");
const USAGE =
  "usage: npm start -- [--slots N|auto] [--ssh-port PORT] [--driver auto|lxc|process]\n" +
  "  slots 1 to 256 (auto: one per core while each job gets 4 GiB); port 0: any free one";
const flags = (() => {
  try {
    return parseArgs({
      args: process.argv.slice(2),
      options: {
        slots: { type: "string", default: "auto" },
        "ssh-port": { type: "string", default: "0" },
        driver: { type: "string", default: "auto" },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
})();
const slots = parseSlots(flags.slots!);
const sshPort = Number(flags["ssh-port"]);
const driver = flags.driver as "auto" | "lxc" | "process";
if (
  !slots ||
  !Number.isInteger(sshPort) ||
  sshPort < 0 ||
  sshPort > 65535 ||
  !["auto", "lxc", "process"].includes(driver)
) {
  console.error(USAGE);
  process.exit(2);
}
const config = configFromEnv();
const bun = process.execPath;

function canRunLxc(): boolean {
  return process.getuid?.() === 0 && spawnSync("sh", ["-c", "command -v lxc-copy"]).status === 0;
}

// The base template the local builder clones for each job (idempotent; no download).
if (canRunLxc() && driver !== "process" && process.env.CAIRN_SKIP_TEMPLATE !== "1") {
  const r = spawnSync("bash", [join(root, "scripts", "lxc-base-template.sh")], { stdio: "inherit" });
  if (r.status !== 0)
    console.error("cairn: could not prepare the LXC base template; the builder will say why it falls back");
}

const server = await serve();
const identity = join(config.dataDir, "builder.json");
if (!existsSync(identity)) {
  // The local builder registers through the real protocol, with a token minted here.
  const { db, close } = await openDb(config.dbUrl, config.dbAuthToken);
  const { token } = await createRegistrationToken(db, "npm-start");
  close();
  // Not spawnSync: the server answering the registration runs in this very event loop.
  // With `init --self-signed` the server speaks HTTPS: the builder pins the data dir's CA.
  const ca = tlsFiles(config.dataDir).caCert;
  const pin = server.url.startsWith("https:") && existsSync(ca) ? ["--ca", ca] : [];
  const register = spawn(
    bun,
    [
      join(root, "builder", "cli.ts"),
      "register",
      "--server",
      server.url,
      "--token",
      token,
      "--config",
      identity,
      "--name",
      "local",
      "--slots",
      String(slots),
      "--ssh-listen",
      `127.0.0.1:${sshPort}`,
      "--driver",
      driver,
      // CAIRN_NETWORK=none: the local builder's containers get loopback only (default: egress-only NAT).
      ...(process.env.CAIRN_NETWORK ? ["--network", process.env.CAIRN_NETWORK] : []),
      ...pin,
    ],
    { stdio: "inherit" },
  );
  const code = await new Promise<number | null>((resolve) => register.on("exit", resolve));
  if (code !== 0) {
    console.error("cairn: registering the local builder failed; the server runs without one");
  }
}
if (existsSync(identity)) {
  // Flags apply on every start, also to a builder registered by an earlier one; so does this
  // server's address (CAIRN_PORT or TLS may have changed since the builder registered).
  const id = await loadIdentity(identity);
  id.server = server.url;
  const ca = tlsFiles(config.dataDir).caCert;
  if (server.url.startsWith("https:") && existsSync(ca)) id.server_ca = readFileSync(ca, "utf8");
  if (!id.hosts?.length) id.slots = slots;
  if (!id.hosts?.length) id.driver = driver;
  id.ssh_listen = `127.0.0.1:${sshPort}`;
  id.ssh_host_key ??= generateHostKey();
  await saveIdentity(identity, id);
  // The builders page shows the slots recorded at registration: keep them true to this start.
  const { db, close } = await openDb(config.dbUrl, config.dbAuthToken);
  await db.update(builders).set({ slots: id.slots }).where(eq(builders.id, id.builder_id));
  close();
  // CAIRN_INSECURE_REGISTRIES=host:port,...: plain-HTTP registries the local builder may pull from.
  const insecure = (process.env.CAIRN_INSECURE_REGISTRIES ?? "")
    .split(",")
    .map((h) => h.trim())
    .filter(Boolean)
    .flatMap((h) => ["--insecure-registry", h]);
  // CAIRN_ALLOW_EGRESS=addr:port,...: holes in the NAT's blocks for the local builder (a mirror).
  const allow = (process.env.CAIRN_ALLOW_EGRESS ?? "")
    .split(",")
    .map((h) => h.trim())
    .filter(Boolean)
    .flatMap((h) => ["--allow-egress", h]);
  // CAIRN_RESOURCE_CLASSES=FILE: the local builder's own resource classes (docs/fleet-host.md).
  const classes = process.env.CAIRN_RESOURCE_CLASSES
    ? ["--resource-classes", process.env.CAIRN_RESOURCE_CLASSES]
    : [];
  const builder = spawn(
    bun,
    [join(root, "builder", "cli.ts"), "run", "--config", identity, ...insecure, ...allow, ...classes],
    {
      stdio: "inherit",
    },
  );
  const stopAll = () => {
    builder.kill("SIGTERM");
    server.stop();
    process.exit(0);
  };
  process.on("SIGINT", stopAll);
  process.on("SIGTERM", stopAll);
  builder.on("exit", (code) => console.error(`cairn: the local builder exited (${code})`));
}
console.log(
  `cairn: ready at ${server.url} — API token: ${server.tokenFile ?? "see data/initial-admin-token"}`,
);
