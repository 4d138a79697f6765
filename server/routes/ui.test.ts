// The web UI's routes: every page's URL answers index.html (client-side routing with real URLs),
// hashed assets are served with their types and cached for good, nothing else is shadowed, and the
// responses carry the strict Content-Security-Policy the UI is written for.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { startTestServer, type TestServer } from "../../tests/support/server.ts";
import { buildUi } from "../../ui/build.ts";
import { uiRoutes } from "./ui.ts";

let dir: string;
let app: Hono;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-ui-dist-"));
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>Cairn</title>");
  writeFileSync(join(dir, "app-abc123.js"), "console.log(1)");
  writeFileSync(join(dir, "app-abc123.css"), "body{}");
  app = new Hono();
  app.route("/", uiRoutes({ dir }));
  app.notFound((c) => c.json({ error: { code: "not_found" } }, 404));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("ui routes", () => {
  test("each page's URL answers index.html, never cached", async () => {
    for (const path of [
      "/",
      "/login",
      "/builders",
      "/orbs",
      "/audit",
      "/settings",
      "/projects/p-1",
      "/projects/p-1/settings",
      "/pipelines/abc",
      "/jobs/4f1c-9",
    ]) {
      const res = await app.request(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/html");
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(await res.text()).toContain("<title>Cairn</title>");
    }
  });

  test("assets by name with their type, immutable", async () => {
    const js = await app.request("/assets/app-abc123.js");
    expect(js.headers.get("content-type")).toContain("text/javascript");
    expect(js.headers.get("cache-control")).toContain("immutable");
    expect((await app.request("/assets/app-abc123.css")).headers.get("content-type")).toContain("text/css");
  });

  test("unknown pages, unknown assets, other types and traversal are 404", async () => {
    for (const path of [
      "/nope",
      "/projects",
      "/jobs/a/b",
      "/projects/p-1/members",
      "/settings/other",
      "/assets/missing.js",
      "/assets/index.html",
      "/assets/..%2Fsecret.js",
      "/api/v1/whatever",
    ]) {
      expect((await app.request(path)).status).toBe(404);
    }
  });

  test("without a build the pages say how to build it", async () => {
    const empty = new Hono();
    empty.route("/", uiRoutes({ dir: join(dir, "nothing-here") }));
    const res = await empty.request("/");
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("ui/build.ts");
  });
});

describe("ui in the real app", () => {
  let server: TestServer;
  beforeAll(async () => {
    await buildUi({ ifStale: true });
    server = await startTestServer();
  }, 60_000);
  afterAll(() => server.stop());

  test("index.html names only external scripts and styles, under a strict CSP", async () => {
    const res = await fetch(`${server.url}/jobs/some-job`);
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    const html = await res.text();
    expect(html).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>|<style|style=/);
    for (const m of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) {
      expect((await fetch(`${server.url}${m[1]}`)).status).toBe(200);
    }
  });

  test("the API is not shadowed: unknown API paths stay JSON 404s", async () => {
    const res = await server.api("/api/v1/nope");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });
});
