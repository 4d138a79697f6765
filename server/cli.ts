// cairn-server: `init` prepares a data dir, `serve` runs the server (no local builder),
// `rotate-key` re-seals every secret under a new master key; migrate, backup, restore and config check
// are in cli-ops.ts.
import { parseArgs } from "node:util";
import { assemble, startBackground } from "./assemble.ts";
import { adminTokenFile, configFromEnv } from "./bootstrap.ts";
import { applyConfigFile } from "./config-file.ts";
import type { RuntimeAdapter } from "./runtime.ts";
import { finishRotation, type RotateResult, rotateMasterKey } from "./services/rotate-key.ts";
import { checkListenPolicy, loadServerTls } from "./tls/listen.ts";
import { createSelfSigned } from "./tls/self-signed.ts";
import { VERSION } from "./version.ts";

const USAGE = `usage: cairn-server <command>

commands:
  init [--self-signed [--host NAME]...]
            create the data directory, master key, database and first admin token;
            --self-signed also makes a private CA and a server certificate in <data>/tls/
  serve [--insecure-http]
            run the server (CAIRN_HOST, CAIRN_PORT, CAIRN_DATA_DIR, CAIRN_DB_URL; HTTPS with
            CAIRN_TLS_CERT and CAIRN_TLS_KEY or <data>/tls/). Plain HTTP off loopback needs
            --insecure-http (or CAIRN_INSECURE_HTTP=1)
  rotate-key [--finish]
            seal every secret under a new master key; after restarting the server, --finish
            re-seals anything sealed meanwhile and retires the previous key
  migrate   apply pending database migrations and exit (serve does it at start too)
  backup FILE|s3://BUCKET/KEY
            a consistent snapshot of the database, the master key(s) and the local blob store
            in one .tar.gz (mode 0600) — it holds the master key: keep it like one
  restore FILE|s3://BUCKET/KEY --data-dir DIR
            unpack a backup into a new or empty data dir and verify it (database opens,
            migrations apply, every sealed value opens with the restored key)
  config check
            explain every bad value of the configuration (file and CAIRN_* variables)
  version   print the version

every command takes --config FILE (or CAIRN_CONFIG): a JSON file of settings, e.g.
{"port": 8443, "host": "0.0.0.0", "data_dir": "/var/lib/cairn"} (or the same keys in a .toml
file); CAIRN_* variables override it
(docs/operations.md lists the keys)`;

const FLAGS: Record<string, Record<string, { type: "boolean" | "string"; multiple?: boolean }>> = {
  version: {},
  init: { "self-signed": { type: "boolean" }, host: { type: "string", multiple: true } },
  serve: { "insecure-http": { type: "boolean" } },
  "rotate-key": { finish: { type: "boolean" } },
  migrate: {},
  backup: {},
  restore: { "data-dir": { type: "string" } },
  config: {},
};
const POSITIONAL = new Set(["backup", "restore", "config"]);

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let values: Record<string, unknown> = {};
  let positionals: string[] = [];
  try {
    const options = { ...FLAGS[command ?? ""], config: { type: "string" as const } };
    ({ values, positionals } = parseArgs({
      args: rest,
      options,
      strict: true,
      allowPositionals: POSITIONAL.has(command ?? ""),
    }));
  } catch (err) {
    console.error(`cairn-server: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.config) process.env.CAIRN_CONFIG = values.config as string;
  // `config check` explains a bad file itself; every other command stops on one.
  if (command !== "config") applyConfigFile(process.env);
  // The operator's other commands (and backup's tar and S3 code) are loaded only when asked for.
  const ops = () => import("./cli-ops.ts");
  switch (command) {
    case "migrate":
      return (await ops()).migrateCommand();
    case "backup":
      return (await ops()).backupCommand(positionals[0]);
    case "restore":
      return (await ops()).restoreCommand(positionals[0], values["data-dir"] as string | undefined);
    case "config":
      if (positionals.join(" ") === "check") return (await ops()).configCheckCommand();
      console.error(`cairn-server: usage: cairn-server config check [--config FILE]`);
      return 2;
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
      if (values["self-signed"]) {
        const { created, ca, files } = await createSelfSigned(config.dataDir, {
          hosts: values.host as string[] | undefined,
        });
        console.log(
          !created
            ? `cairn-server: ${files.dir} already holds a server certificate; left as it is ` +
                "(remove server.pem and server.key to issue a new one from the same CA)"
            : `cairn-server: ${ca ? `made a private CA (${files.caCert}) and` : "the existing CA signed"} a server ` +
                `certificate (${files.cert}); serve uses it; register builders with --ca ${files.caCert}`,
        );
      }
      return 0;
    }
    case "serve": {
      await serve({ insecureHttp: Boolean(values["insecure-http"]) });
      return -1;
    }
    case "rotate-key": {
      const config = configFromEnv();
      const finish = Boolean(values.finish);
      let r: RotateResult;
      try {
        r = finish ? await finishRotation(config, process.env) : await rotateMasterKey(config, process.env);
      } catch (err) {
        if ((err as { code?: string }).code !== "master_key_rotation_pending") throw err;
        console.error(
          `cairn-server: ${(err as Error).message}; \`cairn-server rotate-key --finish\` does that`,
        );
        return 1;
      }
      printRotation(r, finish);
      return Object.keys(r.after).every((id) => id === r.report.keyId) ? 0 : 1;
    }
    default:
      console.error(command ? `cairn-server: unknown command ${command}\n\n${USAGE}` : USAGE);
      return 2;
  }
}

function printRotation(r: RotateResult, finish: boolean): void {
  const { report } = r;
  console.log(
    `cairn-server: ${report.total} sealed value(s): ${report.resealed} re-sealed, ${report.alreadyCurrent} already ` +
      `under key ${report.keyId}`,
  );
  const after =
    Object.entries(r.after)
      .map(([id, n]) => `${id}: ${n}`)
      .join(", ") || "none";
  console.log(`cairn-server: verified, every value opens; values per key now: ${after}`);
  if (finish) {
    console.log(
      r.previousKeyRetired
        ? "cairn-server: master.key.previous removed; rotation complete"
        : "cairn-server: rotation complete",
    );
  } else {
    console.log(
      "cairn-server: restart every server on this database (a running one still seals with the old key), " +
        "then run `cairn-server rotate-key --finish` to re-seal stragglers and retire the old key",
    );
  }
}

/** Starts the server and returns its URL; keeps running until the process ends. */
export async function serve(
  opts: { insecureHttp?: boolean } = {},
  adapter?: RuntimeAdapter,
): Promise<{ url: string; tokenFile?: string; stop(): void }> {
  // Loaded only when asked for: hono/bun touches the Bun global as it loads.
  const runtime = adapter ?? (await import("./serve-bun.ts")).bunRuntime;
  // The Node and Deno entry points come here without main(): the config file fills process.env too.
  applyConfigFile(process.env);
  const config = configFromEnv();
  const tls = loadServerTls(process.env, config.dataDir);
  checkListenPolicy(config.host, {
    tls: tls !== null,
    insecureHttp: Boolean(opts.insecureHttp) || process.env.CAIRN_INSECURE_HTTP === "1",
  });
  const a = await assemble(config, {
    upgradeWebSocket: runtime.upgradeWebSocket,
    tls: tls !== null,
    clientIp: runtime.clientIp,
    collectGarbage: runtime.collectGarbage,
    heapBytes: runtime.heapBytes,
  });
  const server = await runtime.listen(a.app, { host: config.host, port: config.port, tls: tls ?? undefined });
  const url = `${tls ? "https" : "http"}://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;
  console.log(`cairn-server ${VERSION} listening on ${url} (data in ${config.dataDir}; ${runtime.name})`);
  if (tls) console.log(`cairn-server: TLS with ${tls.certPath}`);
  else
    console.log(
      "cairn-server: plain HTTP, not TLS — /api/v1/health says tls: false; see SECURITY.md for TLS",
    );
  const tokenFile = a.createdAdminTokenFile ?? adminTokenFile(config.dataDir);
  if (a.createdAdminTokenFile)
    console.log(`cairn-server: first start — the admin API token is in ${tokenFile}`);
  // Expire leases of builders that died even when no builder is polling.
  const stopBackground = startBackground(a.deps);
  return {
    url,
    tokenFile,
    stop() {
      stopBackground();
      server.stop();
      a.closeDb();
    },
  };
}

/** The process entry: exits with main's code (serve keeps running). The binary's entry calls it too. */
export function runMain(argv = process.argv.slice(2)): void {
  main(argv).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err) => {
      console.error(`cairn-server: ${err instanceof Error ? err.message : err}`);
      process.exit(1);
    },
  );
}

if (import.meta.main) runMain();
