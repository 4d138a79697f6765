// `cairn-server init --self-signed`: a private CA and a server certificate it signed, made with the
// openssl CLI into <data>/tls/. Builders pin ca.pem (`cairn-builder register --ca`); the CA's key
// stays in the data dir (0600) so the operator can issue a new server certificate later.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";

export interface TlsFiles {
  dir: string;
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

export const tlsFiles = (dataDir: string): TlsFiles => {
  const dir = join(dataDir, "tls");
  return {
    dir,
    caCert: join(dir, "ca.pem"),
    caKey: join(dir, "ca.key"),
    cert: join(dir, "server.pem"),
    key: join(dir, "server.key"),
  };
};

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    if (e.code === "ENOENT")
      throw new Error("the openssl command is not installed (apt-get install openssl)");
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? String(err)}`);
  }
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** subjectAltName entries: loopback, this machine's name, and whatever the operator adds. */
export function subjectAltNames(hosts: readonly string[]): string {
  const all = new Set(["localhost", "127.0.0.1", "::1", hostname(), ...hosts]);
  return [...all]
    .filter((h) => /^[\w.:-]+$/.test(h))
    .map((h) => (IPV4.test(h) || h.includes(":") ? `IP:${h}` : `DNS:${h}`))
    .join(",");
}

/**
 * Creates the CA (unless it exists) and a server certificate it signs (unless one exists): to renew the
 * server certificate or add names, remove server.pem and server.key and run `init --self-signed` again
 * — builders pinned to the CA keep trusting the new one. Everything is made in a private temporary
 * directory and moved into place, keys 0600. `created` says what was made.
 */
export async function createSelfSigned(dataDir: string, opts: { hosts?: string[]; days?: number } = {}) {
  const files = tlsFiles(dataDir);
  const haveCa = existsSync(files.caCert) && existsSync(files.caKey);
  if (existsSync(files.cert) || existsSync(files.key) || (!haveCa && existsSync(files.caCert))) {
    return { created: false, ca: false, files };
  }
  await mkdir(files.dir, { recursive: true, mode: 0o700 });
  const tmp = await mkdtemp(join(files.dir, ".new-"));
  await chmod(tmp, 0o700);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    const ca = haveCa
      ? { cert: files.caCert, key: files.caKey }
      : { cert: join(tmp, "ca.pem"), key: join(tmp, "ca.key") };
    if (!haveCa) {
      const subject = "/CN=Cairn CI private CA";
      const caExt = ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=critical,keyCertSign,cRLSign"];
      openssl(
        [
          "req",
          "-x509",
          "-new",
          ...ec,
          "-keyout",
          "ca.key",
          "-out",
          "ca.pem",
          "-days",
          "3650",
          "-subj",
          subject,
        ].concat(caExt.flatMap((e) => ["-addext", e])),
        tmp,
      );
      await chmod(ca.key, 0o600);
    }
    openssl(
      ["req", "-new", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${hostname()}`],
      tmp,
    );
    await chmod(join(tmp, "server.key"), 0o600);
    await writeFile(
      join(tmp, "server.ext"),
      [
        `subjectAltName=${subjectAltNames(opts.hosts ?? [])}`,
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
      ].join("\n"),
    );
    const serial = `0x${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex")}`;
    const days = String(opts.days ?? 825);
    openssl(
      [
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        ca.cert,
        "-CAkey",
        ca.key,
        "-set_serial",
        serial,
        "-days",
        days,
      ].concat(["-sha256", "-extfile", "server.ext", "-out", "server.pem"]),
      tmp,
    );
    await chmod(join(tmp, "server.pem"), 0o644);
    // Keys first, certificates last: a crash leaves no certificate without its key.
    if (!haveCa) {
      await chmod(ca.cert, 0o644);
      await rename(ca.key, files.caKey);
    }
    await rename(join(tmp, "server.key"), files.key);
    if (!haveCa) await rename(ca.cert, files.caCert);
    await rename(join(tmp, "server.pem"), files.cert);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { created: true, ca: !haveCa, files };
}
