// Pinning the fleet host's SSH key: an OpenSSH public key line or a `SHA256:` fingerprint.

import { createHash } from "node:crypto";

export interface HostKeyPin {
  /** Key type from the line (`ssh-ed25519`...), absent for a bare fingerprint. */
  type?: string;
  /** SHA256 fingerprint in OpenSSH's form: `SHA256:` + unpadded base64. */
  fingerprint: string;
}

export class HostKeyMismatchError extends Error {
  readonly code = "host_key_mismatch";
  constructor(where: string, expected: string, got: string) {
    super(
      `host key of ${where} does not match the pinned key: expected ${expected}, got ${got}; refusing to connect`,
    );
    this.name = "HostKeyMismatchError";
  }
}

export function fingerprintOf(rawKey: Uint8Array): string {
  return `SHA256:${createHash("sha256").update(rawKey).digest("base64").replace(/=+$/, "")}`;
}

/**
 * Accepts `ssh-ed25519 AAAA... comment`, a known_hosts line (`[127.0.0.1]:2222 ssh-ed25519 AAAA...`)
 * or `SHA256:...` as printed by `ssh-keygen -lf`.
 */
export function parseHostKeyPin(expected: string): HostKeyPin {
  const text = expected.trim();
  if (text.startsWith("SHA256:")) return { fingerprint: text.replace(/=+$/, "") };
  const words = text.split(/\s+/);
  const at = words.findIndex((w) => /^(ssh-|ecdsa-sha2-|sk-)/.test(w));
  const blob = at >= 0 ? words[at + 1] : undefined;
  if (!blob || !/^[A-Za-z0-9+/]+=*$/.test(blob)) {
    throw new Error(
      "hostKey must be an OpenSSH public key line (`ssh-ed25519 AAAA...`) or a SHA256 fingerprint (`SHA256:...`)",
    );
  }
  return { type: words[at], fingerprint: fingerprintOf(Buffer.from(blob, "base64")) };
}

/** Host key algorithms to offer so the server presents the pinned key's type. */
export function hostKeyAlgorithms(pin: HostKeyPin): string[] | undefined {
  if (!pin.type) return undefined;
  if (pin.type === "ssh-rsa") return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];
  return [pin.type];
}
