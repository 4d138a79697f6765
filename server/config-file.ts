// The server's configuration file (`--config FILE` or CAIRN_CONFIG): a JSON object (or, in a file named
// *.toml, top-level TOML keys) whose keys are the CAIRN_* variables in lower case without the prefix
// (`"port": 8443` is CAIRN_PORT). The environment
// wins over the file, so a unit's Environment= can override one value. Secrets (master key, S3 secret,
// DB token) are better kept in the environment or credential files than here.
import { readFileSync } from "node:fs";

type Kind = "string" | "port" | "integer" | "flag" | "boolean";

/** Every key the file may hold, the variable it sets, and how its JSON value is written. */
export const CONFIG_KEYS: Record<string, { env: string; kind: Kind }> = {
  data_dir: { env: "CAIRN_DATA_DIR", kind: "string" },
  host: { env: "CAIRN_HOST", kind: "string" },
  port: { env: "CAIRN_PORT", kind: "port" },
  db_url: { env: "CAIRN_DB_URL", kind: "string" },
  db_auth_token: { env: "CAIRN_DB_AUTH_TOKEN", kind: "string" },
  tls_cert: { env: "CAIRN_TLS_CERT", kind: "string" },
  tls_key: { env: "CAIRN_TLS_KEY", kind: "string" },
  insecure_http: { env: "CAIRN_INSECURE_HTTP", kind: "flag" },
  public_url: { env: "CAIRN_PUBLIC_URL", kind: "string" },
  trust_proxy: { env: "CAIRN_TRUST_PROXY", kind: "flag" },
  lease_ttl_ms: { env: "CAIRN_LEASE_TTL_MS", kind: "integer" },
  default_template: { env: "CAIRN_DEFAULT_TEMPLATE", kind: "string" },
  s3_bucket: { env: "CAIRN_S3_BUCKET", kind: "string" },
  s3_region: { env: "CAIRN_S3_REGION", kind: "string" },
  s3_endpoint: { env: "CAIRN_S3_ENDPOINT", kind: "string" },
  s3_path_style: { env: "CAIRN_S3_PATH_STYLE", kind: "boolean" },
  s3_access_key_id: { env: "CAIRN_S3_ACCESS_KEY_ID", kind: "string" },
  s3_secret_access_key: { env: "CAIRN_S3_SECRET_ACCESS_KEY", kind: "string" },
  s3_prefix: { env: "CAIRN_S3_PREFIX", kind: "string" },
};

export class ConfigFileError extends Error {
  constructor(
    readonly path: string,
    readonly problems: string[],
    /** The keys that were fine, so `config check` can still check their values. */
    readonly settings: Record<string, string> = {},
  ) {
    super(`${path}: ${problems.join("; ")}`);
  }
}

/** The file's settings as CAIRN_* variables; throws ConfigFileError listing every bad key. */
export function readConfigFile(path: string): Record<string, string> {
  let parsed: unknown;
  try {
    const text = readFileSync(path, "utf8");
    parsed = path.endsWith(".toml") ? parseToml(text) : JSON.parse(text);
  } catch (err) {
    throw new ConfigFileError(path, [(err as Error).message]);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigFileError(path, [
      'must hold one JSON object, e.g. {"port": 8443} (or TOML keys in a .toml file)',
    ]);
  }
  const out: Record<string, string> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(parsed)) {
    const spec = CONFIG_KEYS[key];
    if (!spec) {
      problems.push(`unknown key "${key}" (known: ${Object.keys(CONFIG_KEYS).join(", ")})`);
      continue;
    }
    const bad = (want: string) => problems.push(`"${key}" must be ${want}, got ${JSON.stringify(value)}`);
    switch (spec.kind) {
      case "string":
        if (typeof value === "string") out[spec.env] = value;
        else bad("a string");
        break;
      case "port":
      case "integer":
        if (typeof value === "number" && Number.isInteger(value)) out[spec.env] = String(value);
        else bad("an integer");
        break;
      case "flag":
        if (typeof value === "boolean") {
          if (value) out[spec.env] = "1";
        } else bad("true or false");
        break;
      case "boolean":
        if (typeof value === "boolean") out[spec.env] = String(value);
        else bad("true or false");
        break;
    }
  }
  if (problems.length > 0) throw new ConfigFileError(path, problems, out);
  return out;
}

/** TOML (a file named *.toml) with Bun's parser: the binaries and `bun` have it; Node and Deno do not. */
function parseToml(text: string): unknown {
  const bun = (globalThis as { Bun?: { TOML: { parse(t: string): unknown } } }).Bun;
  if (!bun)
    throw new Error(
      "a .toml configuration needs the Bun runtime (the binaries have it); use JSON on Node or Deno",
    );
  return bun.TOML.parse(text);
}

/** `env` with the settings of its CAIRN_CONFIG file filled in where the environment has none. */
export function withConfigFile(env: Record<string, string | undefined>): Record<string, string | undefined> {
  if (!env.CAIRN_CONFIG) return env;
  return { ...readConfigFile(env.CAIRN_CONFIG), ...definedOnly(env) };
}

const definedOnly = (env: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined));

/**
 * For the CLI: copies the file's settings into process.env (where the environment has none), so every
 * reader of CAIRN_* (TLS, S3, lease TTL) sees them.
 */
export function applyConfigFile(env: NodeJS.ProcessEnv = process.env): void {
  if (!env.CAIRN_CONFIG) return;
  for (const [k, v] of Object.entries(readConfigFile(env.CAIRN_CONFIG))) if (env[k] === undefined) env[k] = v;
}
