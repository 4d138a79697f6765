// `npm start`: the server with its embedded database, plus a local builder attached to it.
// First start creates data/ (master key, database, the first admin's API token) and registers the
// local builder (identity in data/builder.json). LXC is used where this machine can run it.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { configFromEnv } from "../server/bootstrap.ts";
import { serve } from "../server/cli.ts";
import { openDb } from "../server/db/client.ts";
import { createRegistrationToken } from "../server/services/builders.ts";
import { tlsFiles } from "../server/tls/self-signed.ts";

const root = join(import.meta.dir, "..");
const config = configFromEnv();
const bun = process.execPath;

function canRunLxc(): boolean {
  return process.getuid?.() === 0 && spawnSync("sh", ["-c", "command -v lxc-copy"]).status === 0;
}

// The base template the local builder clones for each job (idempotent; no download).
if (canRunLxc() && process.env.CAIRN_SKIP_TEMPLATE !== "1") {
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
  // CAIRN_INSECURE_REGISTRIES=host:port,...: plain-HTTP registries the local builder may pull from.
  const insecure = (process.env.CAIRN_INSECURE_REGISTRIES ?? "")
    .split(",")
    .map((h) => h.trim())
    .filter(Boolean)
    .flatMap((h) => ["--insecure-registry", h]);
  const builder = spawn(bun, [join(root, "builder", "cli.ts"), "run", "--config", identity, ...insecure], {
    stdio: "inherit",
  });
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
