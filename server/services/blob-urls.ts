// Short-lived URLs a builder moves blob bytes through: presigned by S3 when the store can, else a
// capability token for the server's own endpoint (routes/blobs.ts) naming one key, one method, one
// job and an expiry, under an HMAC keyed from the master key (so every server process agrees).

import { type BlobUrl, routes } from "../../protocol/index.ts";
import type { BlobStore } from "../blobs/types.ts";
import type { Keyring } from "../secrets/index.ts";

/** Every URL a builder gets lives at most this long (the brief's ceiling is 15 min). */
export const BLOB_URL_TTL_S = 15 * 60;

export type BlobMethod = "GET" | "PUT";

export interface BlobCapability {
  key: string;
  method: BlobMethod;
  jobId: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

const enc = new TextEncoder();
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

export class BlobUrls {
  private readonly hmacKey: Promise<CryptoKey>;

  constructor(
    private readonly blobs: BlobStore,
    keyring: Keyring,
    private readonly now: () => number = Date.now,
    private readonly ttlS: number = BLOB_URL_TTL_S,
  ) {
    // A key of its own, derived from the master key: the master key itself never signs anything else.
    this.hmacKey = crypto.subtle
      .importKey("raw", keyring.current.bytes as BufferSource, { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
      ])
      .then((master) => crypto.subtle.sign("HMAC", master, enc.encode("cairn blob urls v1")))
      .then((derived) =>
        crypto.subtle.importKey("raw", derived, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]),
      );
  }

  /** A URL for one key and one method, for this job only. */
  async url(key: string, method: BlobMethod, jobId: string): Promise<BlobUrl> {
    if (this.blobs.presign) return { url: await this.blobs.presign(key, method, this.ttlS) };
    return {
      url: routes.blob(await this.sign({ key, method, jobId, expiresAt: this.now() + this.ttlS * 1000 })),
    };
  }

  async sign(cap: BlobCapability): Promise<string> {
    const body = enc.encode(JSON.stringify({ k: cap.key, m: cap.method, j: cap.jobId, e: cap.expiresAt }));
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await this.hmacKey, body));
    return `${b64url(body)}.${b64url(mac)}`;
  }

  /** The capability a token grants, or why not: tampered, expired, or for another method. */
  async verify(token: string, method: BlobMethod): Promise<BlobCapability | { refused: string }> {
    const [body, mac, extra] = token.split(".");
    if (!body || !mac || extra !== undefined) return { refused: "malformed token" };
    const bodyBytes = Buffer.from(body, "base64url");
    const ok = await crypto.subtle.verify(
      "HMAC",
      await this.hmacKey,
      Buffer.from(mac, "base64url"),
      bodyBytes,
    );
    if (!ok) return { refused: "bad signature" };
    const c = JSON.parse(bodyBytes.toString("utf8")) as { k: string; m: BlobMethod; j: string; e: number };
    if (c.m !== method) return { refused: `this URL is for ${c.m}, not ${method}` };
    if (!(c.e > this.now())) return { refused: "this URL has expired" };
    return { key: c.k, method: c.m, jobId: c.j, expiresAt: c.e };
  }
}
