// cairn-server: `init` prepares a data dir, `serve` runs the server (no local builder).
import { adminTokenFile, configFromEnv } from "./bootstrap.ts";
import { assemble } from "./assemble.ts";
import { bunUpgradeWebSocket, serveBun } from "./serve-bun.ts";
import { VERSION } from "./version.ts";

const USAGE = `usage: cairn-server <command>

commands:
  init      create the data directory, master key, database and first admin token
  serve     run the server (CAIRN_HOST, CAIRN_PORT, CAIRN_DATA_DIR, CAIRN_DB_URL)
  version   print the version`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (rest.length > 0) {
    console.error(`cairn-server: unexpected arguments: ${rest.join(" ")}\n\n${USAGE}`);
    return 2;
  }
  switch (command) {
    case "version":
      console.log(VERSION);
      return 0;
    case "init": {
      const config = configFromEnv();
      const a = await assemble(config);
      a.closeDb();
      console.log(`cairn-server: data directory ready at ${config.dataDir}`);
      const tokenFile = a.createdAdminTokenFile ?? adminTokenFile(config.dataDir);
      if (tokenFile) console.log(`cairn-server: the first admin's API token is in ${tokenFile}`);
      return 0;
    }
    case "serve": {
      await serve();
      return -1;
    }
    default:
      console.error(command ? `cairn-server: unknown command ${command}\n\n${USAGE}` : USAGE);
      return 2;
  }
}

/** Starts the server and returns its URL; keeps running until the process ends. */
export async function serve(): Promise<{ url: string; tokenFile?: string; stop(): void }> {
  const config = configFromEnv();
  const a = await assemble(config, { upgradeWebSocket: bunUpgradeWebSocket });
  const server = serveBun(a.app, { host: config.host, port: config.port });
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;
  console.log(`cairn-server ${VERSION} listening on ${url} (data in ${config.dataDir})`);
  console.log("cairn-server: plain HTTP, not TLS — fine on loopback; see SECURITY.md for TLS");
  const tokenFile = a.createdAdminTokenFile ?? adminTokenFile(config.dataDir);
  if (a.createdAdminTokenFile) console.log(`cairn-server: first start — the admin API token is in ${tokenFile}`);
  // Expire leases of builders that died even when no builder is polling.
  const sweeper = setInterval(() => a.deps.scheduler.expireLeases().catch(() => {}), 5000);
  return {
    url,
    tokenFile,
    stop() {
      clearInterval(sweeper);
      server.stop(true);
      a.closeDb();
    },
  };
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err) => {
      console.error(`cairn-server: ${err instanceof Error ? err.message : err}`);
      process.exit(1);
    },
  );
}
