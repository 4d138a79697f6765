// Webhook signatures: `sha256=<hex HMAC-SHA256 of the raw body>` (GitHub's X-Hub-Signature-256 and
// Cairn's own X-Cairn-Signature-256). Checked over the raw bytes, before anything parses them.
const enc = new TextEncoder();

export async function hmacSha256Hex(secret: string, body: Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, body as Uint8Array<ArrayBuffer>));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function signBody(secret: string, body: Uint8Array | string): Promise<string> {
  return `sha256=${await hmacSha256Hex(secret, typeof body === "string" ? enc.encode(body) : body)}`;
}

/** How far a generic delivery's signed timestamp may be from the server's clock, either way. */
export const GENERIC_WINDOW_S = 300;

/**
 * What a generic webhook signs: `<timestamp>.<delivery id>.<body>`. The timestamp bounds a captured
 * request's life to the window, and the delivery id, remembered that long, stops it being replayed
 * inside it; both are signed, so neither can be changed to make a replay look new.
 */
export function genericSignedMaterial(timestamp: string, deliveryId: string, body: Uint8Array): Uint8Array {
  const head = enc.encode(`${timestamp}.${deliveryId}.`);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** The X-Cairn-Signature-256 value of a generic delivery (scripts/post-receive computes the same). */
export function signGeneric(
  secret: string,
  timestamp: string,
  deliveryId: string,
  body: Uint8Array | string,
): Promise<string> {
  return signBody(
    secret,
    genericSignedMaterial(timestamp, deliveryId, typeof body === "string" ? enc.encode(body) : body),
  );
}

/** Compares every byte whatever differs first, so the time taken says nothing about where. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = enc.encode(a);
  const y = enc.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ (y[i % Math.max(y.length, 1)] ?? 0);
  return diff === 0;
}

/** True when `header` is `sha256=` + the HMAC of `body` under `secret`; a missing header is false. */
export async function verifySignature(
  header: string | undefined | null,
  secret: string,
  body: Uint8Array,
): Promise<boolean> {
  if (!header?.startsWith("sha256=")) return false;
  const expected = `sha256=${await hmacSha256Hex(secret, body)}`;
  return constantTimeEqual(header.toLowerCase(), expected);
}
