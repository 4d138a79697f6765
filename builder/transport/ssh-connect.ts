// Opening one authenticated ssh2 connection with the host key pinned.

import { Client } from "ssh2";
import { fingerprintOf, HostKeyMismatchError, type HostKeyPin, hostKeyAlgorithms } from "./host-key.ts";

export interface SshConnectOptions {
  host: string;
  port?: number;
  username: string;
  /** OpenSSH or PEM private key text. */
  privateKey: string | Buffer;
  passphrase?: string;
  /** Pinned host key: OpenSSH public key line, known_hosts line, or `SHA256:` fingerprint. */
  hostKey: string;
  readyTimeoutMs?: number;
}

export function connectSsh(opts: SshConnectOptions, pin: HostKeyPin): Promise<Client> {
  const port = opts.port ?? 22;
  const where = `ssh://${opts.username}@${opts.host}:${port}`;
  const conn = new Client();
  let seen: string | undefined;
  return new Promise<Client>((resolve, reject) => {
    const onError = (err: Error) => {
      conn.end();
      if (seen && seen !== pin.fingerprint) reject(new HostKeyMismatchError(where, pin.fingerprint, seen));
      else reject(new Error(`cannot connect to ${where}: ${err.message}`));
    };
    conn.once("error", onError);
    conn.once("ready", () => {
      conn.off("error", onError);
      conn.on("error", () => {}); // callers watch "close"; an unheard "error" would crash the process
      resolve(conn);
    });
    const serverHostKey = hostKeyAlgorithms(pin);
    conn.connect({
      host: opts.host,
      port,
      username: opts.username,
      privateKey: opts.privateKey,
      passphrase: opts.passphrase,
      readyTimeout: opts.readyTimeoutMs ?? 20_000,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      // biome-ignore lint/suspicious/noExplicitAny: ssh2's algorithm list type is a closed union
      algorithms: serverHostKey ? { serverHostKey: serverHostKey as any } : undefined,
      hostVerifier: (key: Buffer) => {
        seen = fingerprintOf(key);
        return seen === pin.fingerprint;
      },
    });
  });
}
