// A real Cairn server for tests: its own data dir, the real libSQL file, Bun.serve on a free
// loopback port, and the first admin's token.

import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assemble, startBackground } from "../../server/assemble.ts";
import { configFromEnv } from "../../server/bootstrap.ts";
import { bunClientIp, bunUpgradeWebSocket, serveBun } from "../../server/serve-bun.ts";
import { keepingUmask } from "../harness/umask.ts";
import { waitForPlan } from "./trigger.ts";

export interface TestServer {
  url: string;
  token: string;
  dataDir: string;
  /** The in-process server's ports and services, for tests that must reach inside (hold commits, set publicUrl once it listens). */
  deps: Awaited<ReturnType<typeof assemble>>["deps"];
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * `env`: the server's CAIRN_* settings (GitHub, S3, templates, lease TTL …), read into its config.
 * `copyOf`: the data dir of a stopped server to start from a copy of (its users, projects and
 * sessions), so tests that need the same starting state pay for making it once; the copy is removed
 * on stop, as a fresh data dir is.
 */
export async function startTestServer(
  opts: { dataDir?: string; copyOf?: string; env?: Record<string, string> } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "cairn-test-"));
  if (opts.copyOf) cpSync(opts.copyOf, dataDir, { recursive: true });
  const config = configFromEnv({
    // The template a developer's LXC runs build from (tests/harness/lxc.ts), when they name one.
    CAIRN_DEFAULT_TEMPLATE: process.env.CAIRN_DEFAULT_TEMPLATE,
    ...opts.env,
    CAIRN_DATA_DIR: dataDir,
    CAIRN_PORT: "0",
    CAIRN_HOST: "127.0.0.1",
  });
  const a = await keepingUmask(() =>
    assemble(config, { upgradeWebSocket: bunUpgradeWebSocket, clientIp: bunClientIp }),
  );
  const server = serveBun(a.app, { host: "127.0.0.1", port: 0 });
  const stopBackground = startBackground(a.deps, { leaseSweepMs: 1000 });
  const url = `http://127.0.0.1:${server.port}`;
  const token = readFileSync(join(dataDir, "initial-admin-token"), "utf8").trim();
  return {
    url,
    token,
    dataDir,
    deps: a.deps,
    api(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
      for (const [k, v] of Object.entries(waitForPlan(path, init.method, headers))) headers.set(k, v);
      let body = init.body;
      if (init.json !== undefined) {
        headers.set("content-type", "application/json");
        body = JSON.stringify(init.json);
      }
      return fetch(`${url}${path}`, { ...init, headers, body });
    },
    async stop() {
      stopBackground();
      server.stop(true);
      // An archive still streaming to the blob store would find its folder gone (ENOENT, logged).
      await a.deps.logs.archivesSettled();
      a.closeDb();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A response's JSON body; any status but 2xx throws with the body, so a test says what went wrong. */
export async function json<T>(res: Response | Promise<Response>): Promise<T> {
  const r = await res;
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
  return (await r.json()) as T;
}
