// The OpenAPI document against the app itself: every /api/v1 route the app registers is described
// (and nothing else), the document has the 3.1 structure, every $ref resolves, every path parameter
// is declared; the reference page is served under the app's CSP.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { keepingUmask } from "../../tests/harness/umask.ts";
import { type Assembled, assemble } from "../assemble.ts";
import { configFromEnv } from "../bootstrap.ts";
import { bunUpgradeWebSocket } from "../serve-bun.ts";
import { openApiPath } from "./document.ts";

let a: Assembled;
let dataDir: string;
// biome-ignore lint/suspicious/noExplicitAny: a parsed JSON document walked generically
type Json = any;
let doc: Json;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "cairn-openapi-"));
  a = await keepingUmask(() =>
    assemble(configFromEnv({ CAIRN_DATA_DIR: dataDir, CAIRN_PORT: "0" }), {
      upgradeWebSocket: bunUpgradeWebSocket,
    }),
  );
  const res = await a.app.request("/api/v1/openapi.json");
  expect(res.status).toBe(200);
  doc = await res.json();
});
afterAll(() => {
  a.closeDb();
  rmSync(dataDir, { recursive: true, force: true });
});

const METHODS = ["get", "post", "put", "patch", "delete"];

describe("the OpenAPI document", () => {
  test("describes every /api/v1 route the app registers (and CircleCI's continue), and no other", () => {
    const registered = new Set(
      a.app.routes
        .filter(
          (r) =>
            (r.path.startsWith("/api/v1/") || r.path === "/api/v2/pipeline/continue") &&
            METHODS.includes(r.method.toLowerCase()),
        )
        .map((r) => `${r.method.toUpperCase()} ${openApiPath(r.path)}`),
    );
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const m of Object.keys(item)) documented.add(`${m.toUpperCase()} ${path}`);
    }
    expect([...registered].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((d) => !registered.has(d))).toEqual([]);
    expect(registered.size).toBeGreaterThan(70);
  });

  test("validates against the OpenAPI 3.1 schema (with its JSON Schema 2020-12 dialect)", async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  test("every operation has an operationId, a tag and a summary; every tag is declared", () => {
    const tags = new Set((doc.tags as { name: string }[]).map((t) => t.name));
    for (const item of Object.values(doc.paths as Record<string, Record<string, Json>>)) {
      for (const op of Object.values(item)) {
        expect(op.operationId).toMatch(/^[a-z][A-Za-z]+$/);
        expect(op.summary.length).toBeGreaterThan(3);
        for (const t of op.tags) expect(tags.has(t)).toBe(true);
      }
    }
  });

  test("every body and every answer with content has a schema; JSON bodies are components", () => {
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
      for (const [method, op] of Object.entries(item)) {
        const json = op.requestBody?.content?.["application/json"];
        if (json && !op.requestBody.content["application/json"].schema.type)
          expect(`${method} ${path}: ${json.schema.$ref}`).toContain("#/components/schemas/");
        for (const r of Object.values(op.responses as Record<string, Json>)) {
          for (const media of Object.values((r.content ?? {}) as Record<string, Json>))
            expect(media.schema).toBeDefined();
        }
      }
    }
  });

  test("has the OpenAPI 3.1 structure: info, unique operation ids, responses on every operation", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(typeof doc.info.title).toBe("string");
    expect(typeof doc.info.version).toBe("string");
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
      expect(path.startsWith("/api/v1/") || path === "/api/v2/pipeline/continue").toBe(true);
      for (const [method, op] of Object.entries(item)) {
        expect(METHODS).toContain(method);
        expect(ids.has(op.operationId)).toBe(false);
        ids.add(op.operationId);
        const statuses = Object.keys(op.responses);
        expect(statuses.length).toBeGreaterThan(0);
        for (const s of statuses) expect(s).toMatch(/^[1-5]\d\d$/);
        for (const [s, r] of Object.entries(op.responses as Record<string, Json>)) {
          if (Number(s) >= 400) expect(r.$ref).toBe(`#/components/responses/E${s}`);
        }
        // Every {param} in the path is declared as a required path parameter.
        for (const m of path.matchAll(/\{(\w+)\}/g)) {
          const p = (op.parameters ?? []).find((x: Json) => x.name === m[1] && x.in === "path");
          expect(p?.required).toBe(true);
        }
      }
    }
  });

  test("every $ref resolves inside the document", () => {
    const refs: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          if (k === "$ref" && typeof x === "string") refs.push(x);
          else walk(x);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(50);
    const unresolved = refs.filter((r) => {
      if (!r.startsWith("#/")) return true;
      let at = doc;
      for (const part of r.slice(2).split("/")) at = at?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
      return at === undefined;
    });
    expect(unresolved).toEqual([]);
  });

  test("errors have the documented shape", () => {
    expect(doc.components.schemas.Error.properties.error.required).toEqual(["code", "message"]);
    expect(doc.paths["/api/v1/projects"].post.responses["400"]).toBeDefined();
    expect(doc.paths["/api/v1/projects/{id}"].get.responses["404"]).toBeDefined();
  });

  test("the reference page lists every operation, loads only its own stylesheet, and no script", async () => {
    const res = await a.app.request("/api/v1/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).not.toContain("<script");
    expect(html).not.toContain("style=");
    expect(html).toContain('href="/api/v1/docs/style.css"');
    for (const path of Object.keys(doc.paths)) expect(html).toContain(`<code>${path}</code>`);
    // Bodies and answers link to their schemas' sections, and every link lands.
    expect(html).toContain('href="#schema-ProjectCreate"');
    const ids = new Set([...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]));
    const dangling = [...html.matchAll(/href="#([^"]+)"/g)].map((m) => m[1]).filter((id) => !ids.has(id));
    expect(dangling).toEqual([]);
    const css = await a.app.request("/api/v1/docs/style.css");
    expect(css.headers.get("content-type")).toStartWith("text/css");
  });
});
