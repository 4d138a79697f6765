// The server's configuration is read once, from the environment (and its file), into a typed object:
// what assemble.ts builds the server from, so tests pass settings instead of setting process.env.
import { expect, test } from "bun:test";
import { LEASE_TTL_MS } from "../protocol/index.ts";
import { configFromEnv } from "./bootstrap.ts";

test("defaults when nothing is set", () => {
  const c = configFromEnv({ CAIRN_DATA_DIR: "/srv/cairn" });
  expect(c).toMatchObject({
    dataDir: "/srv/cairn",
    dbUrl: "file:/srv/cairn/cairn.db",
    host: "127.0.0.1",
    port: 8080,
    trustProxy: false,
    leaseTtlMs: LEASE_TTL_MS,
    sshWindowSeconds: 600,
    oidcAudience: "cairn",
    s3: null,
  });
  expect(c.publicUrl).toBeUndefined();
  expect(c.githubOAuth).toBeUndefined();
  expect(c.templates.templateFor({ kind: "machine" })).toBe("cairn-base");
});

test("every setting the server is assembled from comes from its CAIRN_* variable", () => {
  const c = configFromEnv({
    CAIRN_PUBLIC_URL: "https://ci.example.org",
    CAIRN_TRUST_PROXY: "1",
    CAIRN_LEASE_TTL_MS: "7000",
    CAIRN_SSH_WINDOW_S: "120",
    CAIRN_OIDC_AUDIENCE: "sts.example.org",
    CAIRN_TEMPLATES: '{"cimg/*":"node-20"}',
    CAIRN_S3_BUCKET: "b",
    CAIRN_GITHUB_CLIENT_ID: "id",
    CAIRN_GITHUB_CLIENT_SECRET: "secret",
  });
  expect(c).toMatchObject({
    publicUrl: "https://ci.example.org",
    trustProxy: true,
    leaseTtlMs: 7000,
    sshWindowSeconds: 120,
    oidcAudience: "sts.example.org",
    s3: { bucket: "b" },
    githubOAuth: { clientId: "id", url: "https://github.com", apiUrl: "https://api.github.com" },
  });
  expect(c.templates.templateFor({ kind: "docker", image: "cimg/node:20" })).toBe("node-20");
});

test("a bad value stops the server before it starts, naming the variable", () => {
  expect(() => configFromEnv({ CAIRN_LEASE_TTL_MS: "100" })).toThrow(/CAIRN_LEASE_TTL_MS must be at least/);
  expect(() => configFromEnv({ CAIRN_SSH_WINDOW_S: "0" })).toThrow(/CAIRN_SSH_WINDOW_S/);
  expect(() => configFromEnv({ CAIRN_TEMPLATES: "nope" })).toThrow(/CAIRN_TEMPLATES/);
});
