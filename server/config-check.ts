// `cairn-server config check`: reads the configuration as `serve` would (the --config/CAIRN_CONFIG
// file under CAIRN_* variables) and explains every value that would stop or weaken the server.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { isIP } from "node:net";
import { dirname, join, resolve } from "node:path";
import { HEARTBEAT_INTERVAL_MS, LEASE_TTL_MS } from "../protocol/index.ts";
import { ConfigFileError, readConfigFile } from "./config-file.ts";
import { MASTER_KEY_ENV, MASTER_KEY_FILE, parseMasterKey } from "./secrets/index.ts";
import { isLoopback } from "./tls/listen.ts";
import { tlsFiles } from "./tls/self-signed.ts";

export interface CheckResult {
  /** Values the server would refuse, or that leave it insecure or broken: exit 1. */
  errors: string[];
  /** Worth knowing, not fatal. */
  notes: string[];
}

const writable = (path: string) => {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
};

/** The nearest existing ancestor of `path` (where a missing data dir would be created). */
function existingAncestor(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

export function checkConfig(processEnv: Record<string, string | undefined>): CheckResult {
  const errors: string[] = [];
  const notes: string[] = [];
  let env = processEnv;
  if (processEnv.CAIRN_CONFIG) {
    try {
      env = { ...readConfigFile(processEnv.CAIRN_CONFIG), ...processEnv };
      notes.push(`configuration file ${processEnv.CAIRN_CONFIG} read (CAIRN_* variables override it)`);
    } catch (err) {
      if (!(err instanceof ConfigFileError)) throw err;
      for (const p of err.problems) errors.push(`config file ${err.path}: ${p}`);
      env = { ...err.settings, ...processEnv };
    }
  }

  // Port and host.
  const portText = env.CAIRN_PORT ?? "8080";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    errors.push(`CAIRN_PORT=${portText}: must be a whole number from 0 to 65535 (0 picks a free port)`);
  } else if (port > 0 && port < 1024) {
    notes.push(
      `CAIRN_PORT=${port} is below 1024: the server needs CAP_NET_BIND_SERVICE (see docs/systemd/cairn-server.service)`,
    );
  }
  const host = env.CAIRN_HOST ?? "127.0.0.1";
  const bare = host.replace(/^\[|\]$/g, "");
  if (
    !isIP(bare) &&
    !/^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/.test(
      bare,
    )
  ) {
    errors.push(
      `CAIRN_HOST=${host}: not an IP address or host name to listen on (e.g. 0.0.0.0, ::, 127.0.0.1)`,
    );
  }

  // Data dir.
  const dataDir = resolve(env.CAIRN_DATA_DIR ?? "data");
  if (existsSync(dataDir)) {
    const s = statSync(dataDir);
    if (!s.isDirectory()) errors.push(`CAIRN_DATA_DIR=${dataDir}: exists and is not a directory`);
    else if (!writable(dataDir))
      errors.push(`CAIRN_DATA_DIR=${dataDir}: not writable by this user (uid ${process.getuid?.()})`);
    else if ((s.mode & 0o077) !== 0) {
      notes.push(
        `CAIRN_DATA_DIR=${dataDir} has mode ${(s.mode & 0o777).toString(8)}: chmod 700 (it holds the master key and database)`,
      );
    }
    if (!env[MASTER_KEY_ENV] && !existsSync(join(dataDir, MASTER_KEY_FILE))) {
      notes.push(
        `no ${MASTER_KEY_FILE} in ${dataDir} yet: \`cairn-server init\` (or the first start) creates one`,
      );
    }
  } else {
    const parent = existingAncestor(dataDir);
    if (!writable(parent))
      errors.push(`CAIRN_DATA_DIR=${dataDir}: does not exist and ${parent} is not writable to create it`);
    else notes.push(`CAIRN_DATA_DIR=${dataDir} does not exist yet; \`cairn-server init\` creates it`);
  }
  if (env[MASTER_KEY_ENV]) {
    try {
      parseMasterKey(env[MASTER_KEY_ENV]!, MASTER_KEY_ENV);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }

  // Database URL.
  const dbUrl = env.CAIRN_DB_URL;
  if (dbUrl) {
    const scheme = /^([a-z0-9+.-]+):/i.exec(dbUrl)?.[1]?.toLowerCase();
    if (scheme === "file") {
      const file = dbUrl.slice(5).replace(/^\/\/(?=\/)/, "");
      if (!writable(existingAncestor(dirname(resolve(file)))))
        errors.push(`CAIRN_DB_URL=${dbUrl}: ${dirname(file)} is not writable`);
    } else if (scheme && ["libsql", "https", "http", "wss", "ws"].includes(scheme)) {
      try {
        new URL(dbUrl);
      } catch {
        errors.push(`CAIRN_DB_URL: not a valid URL`);
      }
      if (!env.CAIRN_DB_AUTH_TOKEN)
        notes.push(
          "CAIRN_DB_URL is remote and CAIRN_DB_AUTH_TOKEN is unset: fine for an sqld without auth, not for Turso",
        );
      if (scheme === "http" || scheme === "ws")
        notes.push(
          `CAIRN_DB_URL uses ${scheme}: (unencrypted); prefer libsql:// or https:// off this machine`,
        );
    } else {
      errors.push(
        `CAIRN_DB_URL: scheme ${scheme ? `"${scheme}:"` : "missing"}; use file:PATH, libsql://HOST, https://HOST or wss://HOST`,
      );
    }
  } else if (env.CAIRN_DB_AUTH_TOKEN) {
    notes.push("CAIRN_DB_AUTH_TOKEN is set but CAIRN_DB_URL is not: the token is unused");
  }

  // TLS.
  let tls = false;
  const certPath = env.CAIRN_TLS_CERT;
  const keyPath = env.CAIRN_TLS_KEY;
  if (!certPath !== !keyPath) {
    errors.push("set both CAIRN_TLS_CERT and CAIRN_TLS_KEY (PEM files), or neither");
  } else {
    const files = certPath ? { cert: certPath, key: keyPath! } : tlsFiles(dataDir);
    if (certPath || (existsSync(files.cert) && existsSync(files.key))) {
      tls = checkTls(files.cert, files.key, errors, notes);
    }
  }
  const insecure = env.CAIRN_INSECURE_HTTP;
  if (insecure !== undefined && insecure !== "1" && insecure !== "0" && insecure !== "") {
    errors.push(`CAIRN_INSECURE_HTTP=${insecure}: only 1 turns it on`);
  }
  if (!tls && !isLoopback(host) && insecure !== "1") {
    errors.push(
      `CAIRN_HOST=${host} without TLS: serve would refuse plain HTTP off loopback; set CAIRN_TLS_CERT/CAIRN_TLS_KEY ` +
        "(or `cairn-server init --self-signed`), listen on 127.0.0.1 behind a TLS proxy, or set CAIRN_INSECURE_HTTP=1",
    );
  } else if (!tls && insecure === "1" && !isLoopback(host)) {
    notes.push(
      "plain HTTP off loopback (CAIRN_INSECURE_HTTP=1): tokens and secrets cross the network unencrypted",
    );
  }

  // Public URL and proxy.
  if (env.CAIRN_PUBLIC_URL) {
    try {
      const u = new URL(env.CAIRN_PUBLIC_URL);
      if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error();
      if (u.protocol === "http:")
        notes.push("CAIRN_PUBLIC_URL is http: webhook and status links will not be encrypted");
    } catch {
      errors.push(
        `CAIRN_PUBLIC_URL=${env.CAIRN_PUBLIC_URL}: must be an http(s) URL such as https://ci.example.com`,
      );
    }
  }
  if (env.CAIRN_TRUST_PROXY !== undefined && !["0", "1", ""].includes(env.CAIRN_TRUST_PROXY)) {
    errors.push(`CAIRN_TRUST_PROXY=${env.CAIRN_TRUST_PROXY}: only 1 turns it on`);
  }

  // S3.
  const s3Keys = Object.keys(env).filter((k) => k.startsWith("CAIRN_S3_") && env[k]);
  if (s3Keys.length > 0) {
    if (!env.CAIRN_S3_BUCKET) {
      errors.push(
        `${s3Keys.join(", ")} set without CAIRN_S3_BUCKET: blobs would stay on local disk; set the bucket or remove them`,
      );
    } else {
      if (!!env.CAIRN_S3_ACCESS_KEY_ID !== !!env.CAIRN_S3_SECRET_ACCESS_KEY) {
        errors.push(
          "set both CAIRN_S3_ACCESS_KEY_ID and CAIRN_S3_SECRET_ACCESS_KEY, or neither (then the AWS default chain is used)",
        );
      }
      if (!env.CAIRN_S3_REGION && !env.CAIRN_S3_ENDPOINT)
        notes.push("CAIRN_S3_REGION unset: us-east-1 is used");
      if (env.CAIRN_S3_ENDPOINT) {
        try {
          const u = new URL(env.CAIRN_S3_ENDPOINT);
          if (u.protocol === "http:" && !isLoopback(u.hostname))
            notes.push("CAIRN_S3_ENDPOINT is plain http off this machine");
        } catch {
          errors.push(
            `CAIRN_S3_ENDPOINT=${env.CAIRN_S3_ENDPOINT}: not a URL (e.g. https://minio.internal:9000)`,
          );
        }
      }
      if (env.CAIRN_S3_PATH_STYLE && !["true", "false"].includes(env.CAIRN_S3_PATH_STYLE)) {
        errors.push(`CAIRN_S3_PATH_STYLE=${env.CAIRN_S3_PATH_STYLE}: true or false`);
      }
      if (env.CAIRN_S3_PREFIX && !/^([A-Za-z0-9._-]+\/)*$/.test(env.CAIRN_S3_PREFIX)) {
        errors.push(
          `CAIRN_S3_PREFIX=${env.CAIRN_S3_PREFIX}: slash-separated names of [A-Za-z0-9._-] ending in /, e.g. cairn/`,
        );
      }
    }
  }

  // Leases.
  if (env.CAIRN_LEASE_TTL_MS !== undefined) {
    const ttl = Number(env.CAIRN_LEASE_TTL_MS);
    if (!Number.isInteger(ttl) || ttl < 2 * HEARTBEAT_INTERVAL_MS) {
      errors.push(
        `CAIRN_LEASE_TTL_MS=${env.CAIRN_LEASE_TTL_MS}: must be a whole number of ms, at least ${2 * HEARTBEAT_INTERVAL_MS} ` +
          `(two ${HEARTBEAT_INTERVAL_MS} ms heartbeats; default ${LEASE_TTL_MS})`,
      );
    } else if (ttl > 10 * 60_000) {
      notes.push(`CAIRN_LEASE_TTL_MS=${ttl}: a dead builder's job waits that long before it is re-queued`);
    }
  }
  return { errors, notes };
}

/** Cert and key readable, parseable, matching, in date; the key private. True when TLS would be served. */
function checkTls(certPath: string, keyPath: string, errors: string[], notes: string[]): boolean {
  let cert: X509Certificate | undefined;
  let keyPem: string | undefined;
  try {
    cert = new X509Certificate(readFileSync(certPath));
  } catch (err) {
    errors.push(
      `TLS certificate ${certPath}: ${(err as NodeJS.ErrnoException).code ?? "not a PEM certificate"} (${(err as Error).message})`,
    );
  }
  try {
    keyPem = readFileSync(keyPath, "utf8");
    if ((statSync(keyPath).mode & 0o077) !== 0)
      errors.push(`TLS key ${keyPath} is readable by group or others: chmod 600 ${keyPath}`);
  } catch (err) {
    errors.push(`TLS key ${keyPath}: cannot read (${(err as Error).message})`);
  }
  if (!cert || keyPem === undefined) return false;
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
      errors.push(`TLS key ${keyPath} does not belong to the certificate ${certPath}`);
      return false;
    }
  } catch (err) {
    errors.push(`TLS key ${keyPath}: not a PEM private key (${(err as Error).message})`);
    return false;
  }
  const until = new Date(cert.validTo);
  if (until.getTime() < Date.now())
    errors.push(`TLS certificate ${certPath} expired on ${until.toISOString()}`);
  else if (until.getTime() - Date.now() < 30 * 86_400_000)
    notes.push(`TLS certificate ${certPath} expires on ${until.toISOString()}`);
  else
    notes.push(
      `TLS: ${certPath} (${cert.subject.replace(/\n/g, ", ")}), valid until ${until.toISOString().slice(0, 10)}`,
    );
  return true;
}
