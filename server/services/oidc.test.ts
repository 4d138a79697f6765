// The OIDC signing keys on a real libSQL file, verified with a standard JOSE library (jose): tokens
// verify against the published JWKS; a rotation publishes the new key beside the old until the old
// one's tokens have expired; private halves are sealed at rest.
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { openDb } from "../db/client.ts";
import { oidcKeys } from "../db/schema.ts";
import { createKeyring, generateMasterKey } from "../secrets/index.ts";
import { OIDC_ROTATE_MS, OIDC_TOKEN_TTL_S, OidcIssuer } from "./oidc.ts";

async function setup() {
  const { db, close } = await openDb(`file:${join(mkdtempSync(join(tmpdir(), "cairn-oidc-")), "cairn.db")}`);
  let now = Date.UTC(2026, 0, 1);
  const issuer = new OidcIssuer(db, await createKeyring(generateMasterKey()), {
    issuer: () => "https://ci.example.org/",
    audience: "sts.amazonaws.com",
    now: () => now,
  });
  return { db, close, issuer, advance: (ms: number) => (now += ms), at: () => new Date(now) };
}

const claims = (at: Date) => {
  const iat = Math.floor(at.getTime() / 1000);
  return {
    iss: "https://ci.example.org",
    aud: "sts.amazonaws.com",
    sub: "project/p1",
    iat,
    exp: iat + OIDC_TOKEN_TTL_S,
  };
};

describe("OIDC signing keys", () => {
  test("tokens verify against the JWKS with jose; the discovery document points at it", async () => {
    const { issuer, close, at, db } = await setup();
    const token = await issuer.sign(claims(at()));
    const jwks = createLocalJWKSet(await issuer.jwks());
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: "https://ci.example.org",
      audience: "sts.amazonaws.com",
      algorithms: ["RS256"],
      currentDate: at(),
    });
    expect(payload.sub).toBe("project/p1");
    expect(protectedHeader.alg).toBe("RS256");
    expect(issuer.discovery()).toMatchObject({
      issuer: "https://ci.example.org",
      jwks_uri: "https://ci.example.org/.well-known/jwks.json",
      id_token_signing_alg_values_supported: ["RS256"],
    });
    // Sealed at rest: an envelope, no PEM or PKCS#8 in the row.
    const [row] = await db.select().from(oidcKeys);
    expect(row.privateKey).toMatch(/^v1:[0-9a-f]{8}:/);
    expect(row.privateKey).not.toContain("PRIVATE KEY");
    expect(row.publicJwk).not.toContain('"d"');
    // A token altered after signing does not verify.
    const [h, p, s] = token.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims(at()), sub: "project/p2" })).toString("base64url")}.${s}`;
    expect(p).not.toBe(forged.split(".")[1]);
    await expect(jwtVerify(forged, jwks, { currentDate: at() })).rejects.toThrow();
    close();
  });

  test("the key rotates; the old one stays published until its tokens expire, then goes", async () => {
    const { issuer, close, advance, at, db } = await setup();
    const old = await issuer.sign(claims(at()));
    advance(OIDC_ROTATE_MS);
    const fresh = await issuer.sign(claims(at()));
    expect(decodeProtectedHeader(fresh).kid).not.toBe(decodeProtectedHeader(old).kid);
    expect((await issuer.jwks()).keys).toHaveLength(2);
    // The old token, still unexpired at the moment of rotation, verifies against the published set.
    const oldIat = new Date(at().getTime() - OIDC_ROTATE_MS + 1000);
    await jwtVerify(old, createLocalJWKSet(await issuer.jwks()), { currentDate: oldIat });
    advance((OIDC_TOKEN_TTL_S + 5 * 60) * 1000);
    expect((await issuer.jwks()).keys.map((k) => k.kid)).toEqual([decodeProtectedHeader(fresh).kid!]);
    await expect(
      jwtVerify(old, createLocalJWKSet(await issuer.jwks()), { currentDate: oldIat }),
    ).rejects.toThrow(/no applicable key|matching key/i);
    // The next rotation deletes keys no valid token can name.
    await issuer.rotate();
    expect((await db.select().from(oidcKeys)).length).toBe(2);
    close();
  });
});
