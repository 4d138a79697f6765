import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configFromEnv } from "./bootstrap.ts";
import { checkConfig } from "./config-check.ts";
import { applyConfigFile, ConfigFileError, readConfigFile } from "./config-file.ts";

const dir = mkdtempSync(join(tmpdir(), "cairn-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const dataDir = join(dir, "data");
mkdirSync(dataDir, { mode: 0o700 });
const file = (name: string, value: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, typeof value === "string" ? value : JSON.stringify(value));
  return p;
};

describe("config file", () => {
  test("keys are the CAIRN_* variables in lower case; the environment wins", () => {
    const path = file("ok.json", {
      port: 8443,
      host: "0.0.0.0",
      insecure_http: true,
      s3_path_style: false,
      data_dir: dataDir,
    });
    expect(readConfigFile(path)).toEqual({
      CAIRN_PORT: "8443",
      CAIRN_HOST: "0.0.0.0",
      CAIRN_INSECURE_HTTP: "1",
      CAIRN_S3_PATH_STYLE: "false",
      CAIRN_DATA_DIR: dataDir,
    });
    const config = configFromEnv({ CAIRN_CONFIG: path, CAIRN_PORT: "9000" });
    expect(config).toMatchObject({ port: 9000, host: "0.0.0.0", dataDir });
    const env: NodeJS.ProcessEnv = { CAIRN_CONFIG: path, CAIRN_HOST: "127.0.0.1" };
    applyConfigFile(env);
    expect(env).toMatchObject({ CAIRN_HOST: "127.0.0.1", CAIRN_PORT: "8443", CAIRN_INSECURE_HTTP: "1" });
  });

  test("a .toml file says the same in TOML", () => {
    const path = file(
      "server.toml",
      `port = 8443\nhost = "0.0.0.0"\ninsecure_http = true\ndata_dir = "${dataDir}"\n`,
    );
    expect(readConfigFile(path)).toEqual({
      CAIRN_PORT: "8443",
      CAIRN_HOST: "0.0.0.0",
      CAIRN_INSECURE_HTTP: "1",
      CAIRN_DATA_DIR: dataDir,
    });
    expect(() => readConfigFile(file("bad.toml", "port = [1"))).toThrow(ConfigFileError);
  });

  test("every bad key is named at once", () => {
    const path = file("bad.json", { port: "8443", nope: 1, insecure_http: "yes" });
    try {
      readConfigFile(path);
      throw new Error("expected a ConfigFileError");
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigFileError);
      const problems = (err as ConfigFileError).problems.join("\n");
      expect(problems).toContain('"port" must be an integer');
      expect(problems).toContain('unknown key "nope"');
      expect(problems).toContain('"insecure_http" must be true or false');
    }
    expect(() => readConfigFile(file("notjson.json", "{port: 1"))).toThrow(ConfigFileError);
    expect(() => readConfigFile(file("array.json", [1]))).toThrow("one JSON object");
  });
});

describe("config check", () => {
  const check = (env: Record<string, string>) => checkConfig({ CAIRN_DATA_DIR: dataDir, ...env });

  test("a plain loopback setup on a fresh data dir passes", () => {
    expect(check({}).errors).toEqual([]);
  });

  test("explains each bad value", () => {
    const { errors } = check({
      CAIRN_PORT: "65536",
      CAIRN_HOST: "not a host!",
      CAIRN_DB_URL: "mysql://db",
      CAIRN_LEASE_TTL_MS: "1000",
      CAIRN_S3_BUCKET: "b",
      CAIRN_S3_ACCESS_KEY_ID: "id",
      CAIRN_S3_ENDPOINT: "not a url",
      CAIRN_PUBLIC_URL: "ftp://x",
      CAIRN_TLS_CERT: join(dir, "missing.pem"),
    });
    const text = errors.join("\n");
    for (const needle of [
      "CAIRN_PORT=65536",
      "CAIRN_HOST=not a host!",
      'scheme "mysql:"',
      "CAIRN_LEASE_TTL_MS=1000",
      "CAIRN_S3_ACCESS_KEY_ID and CAIRN_S3_SECRET_ACCESS_KEY",
      "CAIRN_S3_ENDPOINT=not a url",
      "CAIRN_PUBLIC_URL=ftp://x",
      "set both CAIRN_TLS_CERT and CAIRN_TLS_KEY",
    ]) {
      expect(text).toContain(needle);
    }
  });

  test("a data dir that cannot be made, plain HTTP off loopback, a bad master key", () => {
    const ro = join(dir, "ro");
    mkdirSync(ro, { mode: 0o500 });
    const asRoot = process.getuid?.() === 0; // root writes anywhere
    const e1 = checkConfig({ CAIRN_DATA_DIR: join(ro, "x", "data") }).errors.join("\n");
    if (!asRoot) expect(e1).toContain("not writable");
    const e2 = check({ CAIRN_HOST: "0.0.0.0" }).errors.join("\n");
    expect(e2).toContain("without TLS");
    expect(check({ CAIRN_HOST: "0.0.0.0", CAIRN_INSECURE_HTTP: "1" }).errors).toEqual([]);
    expect(check({ CAIRN_MASTER_KEY: "c2hvcnQ=" }).errors.join("\n")).toContain("CAIRN_MASTER_KEY");
  });

  test("TLS: a matching pair passes, a foreign or group-readable key fails", () => {
    const tls = join(dir, "tls");
    mkdirSync(tls);
    const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: tls, stdio: "ignore" });
    openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "a.key",
      "-out",
      "a.pem",
      "-days",
      "90",
      "-subj",
      "/CN=ci.test",
    );
    openssl("genpkey", "-algorithm", "ed25519", "-out", "b.key");
    chmodSync(join(tls, "a.key"), 0o600);
    chmodSync(join(tls, "b.key"), 0o600);
    const good = check({
      CAIRN_HOST: "0.0.0.0",
      CAIRN_TLS_CERT: join(tls, "a.pem"),
      CAIRN_TLS_KEY: join(tls, "a.key"),
    });
    expect(good.errors).toEqual([]);
    expect(good.notes.join("\n")).toContain("CN=ci.test");
    const foreign = check({ CAIRN_TLS_CERT: join(tls, "a.pem"), CAIRN_TLS_KEY: join(tls, "b.key") });
    expect(foreign.errors.join("\n")).toContain("does not belong to the certificate");
    chmodSync(join(tls, "a.key"), 0o640);
    const open = check({ CAIRN_TLS_CERT: join(tls, "a.pem"), CAIRN_TLS_KEY: join(tls, "a.key") });
    expect(open.errors.join("\n")).toContain("chmod 600");
  });

  test("a bad config file is reported and its good keys still checked", () => {
    const path = file("mixed.json", { port: 70000, bogus: true });
    const text = checkConfig({ CAIRN_CONFIG: path, CAIRN_DATA_DIR: dataDir }).errors.join("\n");
    expect(text).toContain('unknown key "bogus"');
    expect(text).toContain("CAIRN_PORT=70000");
  });
});
