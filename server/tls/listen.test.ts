import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkListenPolicy, isLoopback, loadServerTls } from "./listen.ts";

describe("isLoopback", () => {
  test("127/8, ::1 and localhost are; everything else is not", () => {
    for (const h of [
      "127.0.0.1",
      "127.0.0.2",
      "127.255.0.9",
      "::1",
      "[::1]",
      "localhost",
      "::ffff:127.0.0.1",
    ]) {
      expect(isLoopback(h)).toBe(true);
    }
    for (const h of [
      "0.0.0.0",
      "::",
      "10.0.0.1",
      "192.168.1.2",
      "128.0.0.1",
      "example.org",
      "127.0.0.1.example.org",
    ]) {
      expect(isLoopback(h)).toBe(false);
    }
  });
});

describe("checkListenPolicy", () => {
  test("plain HTTP off loopback needs the explicit flag; TLS needs nothing", () => {
    expect(() => checkListenPolicy("0.0.0.0", { tls: false, insecureHttp: false })).toThrow(
      /--insecure-http/,
    );
    expect(() => checkListenPolicy("0.0.0.0", { tls: false, insecureHttp: true })).not.toThrow();
    expect(() => checkListenPolicy("0.0.0.0", { tls: true, insecureHttp: false })).not.toThrow();
    expect(() => checkListenPolicy("127.0.0.1", { tls: false, insecureHttp: false })).not.toThrow();
  });
});

describe("loadServerTls", () => {
  const dir = mkdtempSync(join(tmpdir(), "cairn-tls-unit-"));
  const cert = join(dir, "c.pem");
  const key = join(dir, "k.pem");
  writeFileSync(cert, "CERT");
  writeFileSync(key, "KEY", { mode: 0o600 });

  test("none configured and none in the data dir: plain HTTP", () => {
    expect(loadServerTls({}, dir)).toBeNull();
  });
  test("both files from the environment", () => {
    expect(loadServerTls({ CAIRN_TLS_CERT: cert, CAIRN_TLS_KEY: key }, dir)).toMatchObject({
      cert: "CERT",
      key: "KEY",
    });
  });
  test("one without the other is an error", () => {
    expect(() => loadServerTls({ CAIRN_TLS_CERT: cert }, dir)).toThrow(/both/);
  });
  test("a key others can read is refused with the fix", () => {
    chmodSync(key, 0o644);
    expect(() => loadServerTls({ CAIRN_TLS_CERT: cert, CAIRN_TLS_KEY: key }, dir)).toThrow(
      `chmod 600 ${key}`,
    );
    chmodSync(key, 0o600);
  });
  test("an unreadable file says which", () => {
    expect(() => loadServerTls({ CAIRN_TLS_CERT: join(dir, "nope.pem"), CAIRN_TLS_KEY: key }, dir)).toThrow(
      /certificate .*nope\.pem/,
    );
  });
});
