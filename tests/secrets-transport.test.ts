// Transport security with real processes and real certificates: `init --self-signed` makes a private
// CA and a server certificate; the server serves HTTPS with them; a builder pinned to that CA registers,
// one pinned to another CA (or to none) refuses the server; plain HTTP off loopback needs --insecure-http.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const bun = process.execPath;
const temps: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
};

const baseEnv = (dataDir: string, extra: Record<string, string> = {}) => {
  const env: Record<string, string | undefined> = {
    ...process.env,
    CAIRN_DATA_DIR: dataDir,
    CAIRN_PORT: "0",
    ...extra,
  };
  for (const k of ["CAIRN_TLS_CERT", "CAIRN_TLS_KEY", "CAIRN_INSECURE_HTTP", "CAIRN_HOST"])
    if (!(k in extra)) delete env[k];
  return env;
};

interface Running {
  url: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** `cairn-server serve` as a process; resolves with its URL, or rejects with its output if it exits first. */
function serve(dataDir: string, args: string[] = [], extra: Record<string, string> = {}): Promise<Running> {
  const child = spawn(bun, [join(root, "server/cli.ts"), "serve", ...args], {
    env: baseEnv(dataDir, extra),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    child.stdout?.on("data", () => {
      const m = /listening on (https?:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1],
          child,
          output: () => out,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
            await exited;
          },
        });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`server exited (${code}):\n${out}`), { code, output: out }));
    });
  });
}

function init(dataDir: string) {
  const r = spawnSync(bun, [join(root, "server/cli.ts"), "init", "--self-signed", "--host", "cairn.test"], {
    env: baseEnv(dataDir),
    encoding: "utf8",
  });
  expect(r.status).toBe(0);
  return r.stdout;
}

function registrationToken(dataDir: string, url: string, ca: string): Promise<string> {
  const admin = readFileSync(join(dataDir, "initial-admin-token"), "utf8").trim();
  return fetch(`${url}/api/v1/builders/registration-tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}` },
    tls: { ca },
  } as RequestInit)
    .then((r) => r.json())
    .then((j) => (j as { token: string }).token);
}

function register(url: string, token: string, extra: string[]) {
  const config = join(tempDir("cairn-builder-tls-"), "builder.json");
  const r = spawnSync(
    bun,
    [
      join(root, "builder/cli.ts"),
      "register",
      "--server",
      url,
      "--token",
      token,
      "--config",
      config,
      "--driver",
      "process",
      ...extra,
    ],
    { encoding: "utf8" },
  );
  return { ...r, config };
}

afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

describe("HTTPS with a private CA", () => {
  let dirA: string;
  let dirB: string;
  let server: Running;
  let caA: string;
  let caB: string;

  beforeAll(async () => {
    dirA = tempDir("cairn-tls-a-");
    dirB = tempDir("cairn-tls-b-");
    init(dirA);
    init(dirB);
    caA = readFileSync(join(dirA, "tls", "ca.pem"), "utf8");
    caB = readFileSync(join(dirB, "tls", "ca.pem"), "utf8");
    server = await serve(dirA);
  }, 60_000);
  afterAll(() => server?.stop());

  test("init --self-signed makes a CA and a server certificate it signed; keys are 0600", () => {
    for (const key of ["ca.key", "server.key"])
      expect(statSync(join(dirA, "tls", key)).mode & 0o777).toBe(0o600);
    const verify = spawnSync(
      "openssl",
      ["verify", "-CAfile", join(dirA, "tls", "ca.pem"), join(dirA, "tls", "server.pem")],
      { encoding: "utf8" },
    );
    expect(verify.stdout).toContain(": OK");
    const text = spawnSync("openssl", ["x509", "-noout", "-text", "-in", join(dirA, "tls", "server.pem")], {
      encoding: "utf8",
    }).stdout;
    expect(text).toContain("DNS:cairn.test");
    expect(text).toContain("IP Address:127.0.0.1");
    // A second init leaves the certificate alone.
    const before = readFileSync(join(dirA, "tls", "server.pem"), "utf8");
    expect(init(dirA)).toContain("already holds a server certificate");
    expect(readFileSync(join(dirA, "tls", "server.pem"), "utf8")).toBe(before);
  });

  test("without server.pem and server.key, init issues a new certificate from the same CA (renewal, new names)", () => {
    const dir = tempDir("cairn-tls-renew-");
    init(dir);
    const ca = readFileSync(join(dir, "tls", "ca.pem"), "utf8");
    const first = readFileSync(join(dir, "tls", "server.pem"), "utf8");
    rmSync(join(dir, "tls", "server.pem"));
    rmSync(join(dir, "tls", "server.key"));
    const r = spawnSync(
      bun,
      [join(root, "server/cli.ts"), "init", "--self-signed", "--host", "ci.example.org"],
      {
        env: baseEnv(dir),
        encoding: "utf8",
      },
    );
    expect(r.stdout).toContain("the existing CA signed");
    expect(readFileSync(join(dir, "tls", "ca.pem"), "utf8")).toBe(ca);
    expect(readFileSync(join(dir, "tls", "server.pem"), "utf8")).not.toBe(first);
    expect(statSync(join(dir, "tls", "server.key")).mode & 0o777).toBe(0o600);
    const verify = spawnSync(
      "openssl",
      ["verify", "-CAfile", join(dir, "tls", "ca.pem"), join(dir, "tls", "server.pem")],
      {
        encoding: "utf8",
      },
    );
    expect(verify.stdout).toContain(": OK");
    const text = spawnSync("openssl", ["x509", "-noout", "-text", "-in", join(dir, "tls", "server.pem")], {
      encoding: "utf8",
    });
    expect(text.stdout).toContain("DNS:ci.example.org");
  });

  test("the server speaks HTTPS, health says tls: true, HSTS is sent", async () => {
    expect(server.url).toStartWith("https://127.0.0.1:");
    const res = await fetch(`${server.url}/api/v1/health`, { tls: { ca: caA } } as RequestInit);
    expect(await res.json()).toMatchObject({ status: "ok", tls: true });
    expect(res.headers.get("strict-transport-security")).toContain("max-age=");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
  });

  test("a builder pinned to the server's CA registers and keeps the CA in its identity", async () => {
    const token = await registrationToken(dirA, server.url, caA);
    const r = register(server.url, token, ["--ca", join(dirA, "tls", "ca.pem")]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const identity = JSON.parse(readFileSync(r.config, "utf8"));
    expect(identity.server_ca).toBe(caA);
    expect(statSync(r.config).mode & 0o777).toBe(0o600);
  });

  test("a builder pinned to another CA refuses the server, and so does one pinned to none", async () => {
    const token = await registrationToken(dirA, server.url, caA);
    const other = register(server.url, token, ["--ca", join(dirB, "tls", "ca.pem")]);
    expect(other.status).not.toBe(0);
    expect(other.stderr).toMatch(/certificate|self[- ]signed|verify/i);
    const none = register(server.url, token, []);
    expect(none.status).not.toBe(0);
    // The token was never presented: a builder pinned correctly can still use it.
    expect(register(server.url, token, ["--ca", join(dirA, "tls", "ca.pem")]).status).toBe(0);
    // The same refusal in-process, through Bun's fetch as the builder's client uses it.
    await expect(fetch(`${server.url}/api/v1/health`, { tls: { ca: caB } } as RequestInit)).rejects.toThrow();
  }, 30_000);

  test("TLS also allows listening on every address", async () => {
    const any = await serve(dirA, [], { CAIRN_HOST: "0.0.0.0" });
    try {
      expect(any.url).toStartWith("https://0.0.0.0:");
    } finally {
      await any.stop();
    }
  });
});

describe("plain HTTP", () => {
  test("on a non-loopback address is refused without --insecure-http, and says why", async () => {
    const dir = tempDir("cairn-http-");
    const err = await serve(dir, [], { CAIRN_HOST: "0.0.0.0" }).then(
      async (s) => {
        await s.stop();
        throw new Error("the server started on 0.0.0.0 over plain HTTP");
      },
      (e: { code?: number; output?: string }) => e,
    );
    expect(err.code).toBe(1);
    expect(err.output).toContain("refusing to serve plain HTTP on 0.0.0.0");
    expect(err.output).toContain("--insecure-http");
    expect(err.output).toContain("CAIRN_TLS_CERT");
  }, 30_000);

  test("with --insecure-http (or CAIRN_INSECURE_HTTP=1) it serves, and health says tls: false", async () => {
    const dir = tempDir("cairn-http-");
    for (const [args, env] of [
      [["--insecure-http"], {}],
      [[], { CAIRN_INSECURE_HTTP: "1" }],
    ] as const) {
      const s = await serve(dir, [...args], { CAIRN_HOST: "0.0.0.0", ...env });
      try {
        const port = new URL(s.url).port;
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/health`);
        expect(await res.json()).toMatchObject({ tls: false });
        expect(res.headers.get("strict-transport-security")).toBeNull();
        expect(s.output()).toContain("plain HTTP");
      } finally {
        await s.stop();
      }
    }
  }, 30_000);

  test("on loopback it is allowed (the npm start default)", async () => {
    const s = await serve(tempDir("cairn-http-"), [], { CAIRN_HOST: "127.0.0.1" });
    await s.stop();
    expect(s.url).toStartWith("http://127.0.0.1:");
  }, 30_000);

  test("a builder refuses a plain-HTTP server off loopback unless told", () => {
    const r = register("http://192.0.2.1:8080", "cairn_reg_x", []);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("refusing plain HTTP to 192.0.2.1:8080");
  });
});
