// Which transport the server may listen with: TLS from CAIRN_TLS_CERT/CAIRN_TLS_KEY (or the files
// `init --self-signed` made), plain HTTP on loopback, and plain HTTP elsewhere only when the operator
// says so explicitly (--insecure-http or CAIRN_INSECURE_HTTP=1).
import { existsSync, readFileSync, statSync } from "node:fs";
import { tlsFiles } from "./self-signed.ts";

export interface ServerTls {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
}

/** True for 127.0.0.0/8, ::1 and localhost: traffic that never leaves the machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return (
    h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h)
  );
}

export class ListenPolicyError extends Error {}

/** The TLS material to serve with, or null for plain HTTP. Refuses a key file others can read. */
export function loadServerTls(env: Record<string, string | undefined>, dataDir: string): ServerTls | null {
  let certPath = env.CAIRN_TLS_CERT;
  let keyPath = env.CAIRN_TLS_KEY;
  if (!certPath !== !keyPath) {
    throw new ListenPolicyError("set both CAIRN_TLS_CERT and CAIRN_TLS_KEY (PEM files), or neither");
  }
  if (!certPath) {
    const files = tlsFiles(dataDir);
    if (!existsSync(files.cert) || !existsSync(files.key)) return null;
    certPath = files.cert;
    keyPath = files.key;
  }
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (err) {
      throw new ListenPolicyError(`cannot read the TLS ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const cert = read(certPath, "certificate");
  const key = read(keyPath!, "private key");
  if (process.platform !== "win32" && (statSync(keyPath!).mode & 0o077) !== 0) {
    throw new ListenPolicyError(
      `the TLS private key ${keyPath} can be read by other users: chmod 600 ${keyPath}`,
    );
  }
  return { cert, key, certPath, keyPath: keyPath! };
}

/** Throws with the reason and the way out when plain HTTP would leave this machine. */
export function checkListenPolicy(host: string, opts: { tls: boolean; insecureHttp: boolean }): void {
  if (opts.tls || opts.insecureHttp || isLoopback(host)) return;
  throw new ListenPolicyError(
    `refusing to serve plain HTTP on ${host}: API tokens, builder tokens and job secrets would cross the network ` +
      "unencrypted. Set CAIRN_TLS_CERT and CAIRN_TLS_KEY (or run `cairn-server init --self-signed`), listen on " +
      "127.0.0.1 behind a TLS proxy, or pass --insecure-http (CAIRN_INSECURE_HTTP=1) if you accept the risk",
  );
}
