// Deploy keys: one ed25519 key pair per project, made with tweetnacl and written in OpenSSH's own
// formats (the `ssh-ed25519 AAAA…` public line and an unencrypted `openssh-key-v1` private key), so
// no ssh-keygen is needed on the server and no key ever touches its disk. The private half is sealed
// at rest with the row context `deploykey:<projectId>`.

import nacl from "tweetnacl";
import { concatBytes } from "../../wasm/bytes.ts";

export interface DeployKeyPair {
  /** `ssh-ed25519 <base64> <comment>`: what the forge or authorized_keys takes. */
  publicKey: string;
  /** `SHA256:<base64>` as ssh-keygen -l prints it. */
  fingerprint: string;
  /** PEM-armoured openssh-key-v1, unencrypted. */
  privateKey: string;
}

const enc = new TextEncoder();
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** An SSH wire-format string: uint32 length, then the bytes. */
const sshString = (v: Uint8Array | string) => {
  const bytes = typeof v === "string" ? enc.encode(v) : v;
  return concatBytes([u32(bytes.length), bytes]);
};

const publicBlob = (pk: Uint8Array) => concatBytes([sshString("ssh-ed25519"), sshString(pk)]);

export async function sshFingerprint(blob: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", blob as Uint8Array<ArrayBuffer>));
  return `SHA256:${b64(digest).replace(/=+$/, "")}`;
}

/** Fingerprint of an OpenSSH public key line (`ssh-ed25519 AAAA… comment`). */
export function fingerprintOfLine(line: string): Promise<string> {
  const blob = Buffer.from(line.trim().split(/\s+/)[1] ?? "", "base64");
  return sshFingerprint(new Uint8Array(blob));
}

export async function generateDeployKey(comment: string): Promise<DeployKeyPair> {
  const pair = nacl.sign.keyPair(); // secretKey = 32-byte seed ‖ 32-byte public key, as OpenSSH stores it
  const pub = publicBlob(pair.publicKey);
  const check = crypto.getRandomValues(new Uint8Array(4));
  const body = concatBytes([check, check, pub, sshString(pair.secretKey), sshString(comment)]);
  const pad = (8 - (body.length % 8)) % 8;
  const padded = concatBytes([body, Uint8Array.from({ length: pad }, (_, i) => i + 1)]);
  const blob = concatBytes([
    enc.encode("openssh-key-v1\0"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    u32(1),
    sshString(pub),
    sshString(padded),
  ]);
  const lines = b64(blob).match(/.{1,70}/g) ?? [];
  pair.secretKey.fill(0);
  padded.fill(0);
  body.fill(0);
  return {
    publicKey: `ssh-ed25519 ${b64(pub)} ${comment}`,
    fingerprint: await sshFingerprint(pub),
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`,
  };
}

/** True for repository URLs git reaches over SSH (where a deploy key and pinned host keys apply). */
export function isSshUrl(url: string): boolean {
  return url.startsWith("ssh://") || url.startsWith("git+ssh://") || /^[\w.-]+@[\w.-]+:/.test(url);
}

/**
 * The `GIT_SSH_COMMAND` for a checkout with a deploy key: only that key, only the pinned host keys,
 * never a prompt. Paths are single-quoted for the shell git runs it with.
 */
export function gitSshCommand(keyFile: string, knownHostsFile: string): string {
  const q = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;
  return [
    "ssh -F /dev/null",
    `-i ${q(keyFile)}`,
    "-o IdentitiesOnly=yes",
    `-o UserKnownHostsFile=${q(knownHostsFile)}`,
    "-o GlobalKnownHostsFile=/dev/null",
    "-o StrictHostKeyChecking=yes",
    "-o BatchMode=yes",
  ].join(" ");
}
