import { describe, expect, test } from "bun:test";
import { fingerprintOf, hostKeyAlgorithms, parseHostKeyPin } from "./host-key.ts";

// A real ed25519 public key and its fingerprint as `ssh-keygen -lf` prints it.
const LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBCITKqjdKKr0pObrVde4wuOh5u2EbdU2FY4Oz1YKnVq";
const FP = fingerprintOf(Buffer.from(LINE.split(" ")[1], "base64"));

describe("host key pins", () => {
  test("a public key line, with or without comment or known_hosts host field", () => {
    for (const text of [LINE, `${LINE} root@host`, `[127.0.0.1]:2222 ${LINE}`, `  ${LINE}\n`]) {
      expect(parseHostKeyPin(text)).toEqual({ type: "ssh-ed25519", fingerprint: FP });
    }
  });

  test("a SHA256 fingerprint, padded or not", () => {
    expect(parseHostKeyPin(FP)).toEqual({ fingerprint: FP });
    expect(parseHostKeyPin(`${FP}=`)).toEqual({ fingerprint: FP });
    expect(FP).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  test("anything else is refused with what is expected", () => {
    expect(() => parseHostKeyPin("not a key")).toThrow(/OpenSSH public key line .* or a SHA256 fingerprint/);
    expect(() => parseHostKeyPin("ssh-ed25519")).toThrow(/hostKey must be/);
  });

  test("the server is asked for the pinned key type", () => {
    expect(hostKeyAlgorithms({ type: "ssh-ed25519", fingerprint: FP })).toEqual(["ssh-ed25519"]);
    expect(hostKeyAlgorithms({ type: "ssh-rsa", fingerprint: FP })).toEqual([
      "rsa-sha2-512",
      "rsa-sha2-256",
      "ssh-rsa",
    ]);
    expect(hostKeyAlgorithms({ fingerprint: FP })).toBeUndefined();
  });
});
