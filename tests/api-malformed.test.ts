// Every operation in the API's own OpenAPI document that takes a JSON body or a constrained query
// parameter is sent malformed input built from the schema the document shows (wrong types, missing
// required fields, unknown enum values, unknown fields where the schema is closed), with credentials
// that pass authentication, over a real socket. Each must be a 400 with the documented error shape:
// {"error":{"code":"invalid_body"|"invalid_query","message","details":{"issues":[{path,message}]}}}.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PROTOCOL_HEADER, PROTOCOL_VERSION } from "../protocol/index.ts";
import { type DocOperation, deref, type Json, operationsOf } from "./support/openapi.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;
let doc: Json;
let builderToken: string;

beforeAll(async () => {
  server = await startTestServer();
  doc = await (await server.api("/api/v1/openapi.json")).json();
  const { token } = (await (
    await server.api("/api/v1/builders/registration-tokens", { method: "POST" })
  ).json()) as {
    token: string;
  };
  const reg = await fetch(`${server.url}/api/v1/builder/register`, {
    method: "POST",
    headers: { "content-type": "application/json", [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) },
    body: JSON.stringify({
      registration_token: token,
      name: "walker",
      public_key: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"),
    }),
  });
  expect(reg.status).toBe(201);
  builderToken = ((await reg.json()) as { token: string }).token;
});
afterAll(() => server.stop());

/** The JSON types a schema accepts (all of them for `{}`). */
function typesOf(s: Json): Set<string> {
  s = deref(doc, s);
  const all = new Set(["object", "array", "string", "number", "integer", "boolean", "null"]);
  if (!s) return all;
  if (s.anyOf || s.oneOf) {
    const u = new Set<string>();
    for (const b of s.anyOf ?? s.oneOf) for (const t of typesOf(b)) u.add(t);
    return u;
  }
  if (s.enum) return new Set(s.enum.map((v: unknown) => (v === null ? "null" : typeof v)));
  if (s.const !== undefined) return new Set([typeof s.const]);
  if (!s.type) return all;
  const t = new Set<string>(Array.isArray(s.type) ? s.type : [s.type]);
  if (t.has("number")) t.add("integer");
  return t;
}

/** A value of a type the schema does not accept. */
function wrongValue(s: Json): unknown {
  const types = typesOf(s);
  const candidates: [unknown, string][] = [
    [{ not: "expected" }, "object"],
    [12345, "integer"],
    ["text", "string"],
    [true, "boolean"],
    [[1], "array"],
  ];
  return candidates.find(([, t]) => !types.has(t))?.[0];
}

interface Case {
  what: string;
  body?: unknown;
  query?: string;
  code: string;
  /** The field the error must name (absent where a union picks its own closest branch). */
  field?: string;
}

function bodyCases(o: DocOperation): Case[] {
  const schema = deref(doc, o.op.requestBody.content["application/json"].schema);
  const union = Boolean(schema.anyOf || schema.oneOf);
  const code = "invalid_body";
  const cases: Case[] = [
    { what: "an array for the object", body: [], code },
    { what: "a string for the object", body: "text", code },
  ];
  const objects = union ? (schema.anyOf ?? schema.oneOf).map((b: Json) => deref(doc, b)) : [schema];
  for (const obj of objects) {
    if (obj.required?.length) cases.push({ what: "no fields", body: {}, code });
    for (const [name, prop] of Object.entries((obj.properties ?? {}) as Record<string, Json>)) {
      const field = union ? undefined : name;
      const wrong = wrongValue(prop);
      if (wrong !== undefined)
        cases.push({ what: `${name}: ${JSON.stringify(wrong)}`, body: { [name]: wrong }, code, field });
      const p = deref(doc, prop);
      const enumOf = p.enum ?? (p.anyOf ?? []).find((b: Json) => b.enum)?.enum;
      if (enumOf)
        cases.push({ what: `${name}: unknown enum`, body: { [name]: "not-an-option" }, code, field });
      const itemEnum = deref(doc, p.items)?.enum;
      if (itemEnum)
        cases.push({ what: `${name}: unknown enum item`, body: { [name]: ["not-an-option"] }, code, field });
    }
    if (obj.additionalProperties === false)
      cases.push({ what: "an unknown field", body: { not_a_field: 1 }, code });
  }
  return cases;
}

function queryCases(o: DocOperation): Case[] {
  const cases: Case[] = [];
  for (const p of (o.op.parameters ?? []).filter((x: Json) => x.in === "query")) {
    const s = p.schema;
    const code = "invalid_query";
    const q = (v: string) => `${p.name}=${encodeURIComponent(v)}`;
    if (s.type === "integer") {
      cases.push({ what: `${p.name}=abc`, query: q("abc"), code, field: p.name });
      if (typeof s.minimum === "number")
        cases.push({ what: `${p.name} below minimum`, query: q(String(s.minimum - 1)), code, field: p.name });
      if (typeof s.maximum === "number" && s.maximum < 1e9)
        cases.push({ what: `${p.name} above maximum`, query: q(String(s.maximum + 1)), code, field: p.name });
    }
    if (s.enum)
      cases.push({ what: `${p.name}: unknown enum`, query: q("not-an-option"), code, field: p.name });
    if (s.pattern) {
      const bad = ["!!", "x y", "-1", "abc"].find((v) => !new RegExp(s.pattern, "u").test(v));
      if (bad) cases.push({ what: `${p.name}=${bad}`, query: q(bad), code, field: p.name });
    }
  }
  return cases;
}

async function send(o: DocOperation, c: Case) {
  const headers: Record<string, string> = {};
  const security = (o.op.security ?? []).flatMap((x: Json) => Object.keys(x));
  if (security.includes("builderToken")) headers.authorization = `Bearer ${builderToken}`;
  else if (security.includes("apiToken")) headers.authorization = `Bearer ${server.token}`;
  if (o.path.startsWith("/api/v1/builder/")) headers[PROTOCOL_HEADER] = String(PROTOCOL_VERSION);
  if (c.body !== undefined) headers["content-type"] = "application/json";
  const path = o.path.replace(/\{\w+\}/g, "x");
  const res = await fetch(`${server.url}${path}${c.query ? `?${c.query}` : ""}`, {
    method: o.method.toUpperCase(),
    headers,
    body: c.body === undefined ? undefined : JSON.stringify(c.body),
  });
  const text = await res.text();
  let json: Json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text };
}

describe("malformed input, from the document's own schemas", () => {
  test("every operation with a JSON body or a constrained query answers 400 with the error shape", async () => {
    const wrong: string[] = [];
    let bodies = 0;
    let queries = 0;
    for (const o of operationsOf(doc)) {
      const json =
        o.op.requestBody?.content?.["application/json"] &&
        !o.op.requestBody.content["application/json"].schema.type;
      const cases = [...(json ? bodyCases(o) : []), ...queryCases(o)];
      if (json) bodies++;
      if (queryCases(o).length) queries++;
      for (const c of cases) {
        const r = await send(o, c);
        const label = `${o.id} (${o.method.toUpperCase()} ${o.path}) ${c.what}`;
        const e = r.json?.error;
        const issues = e?.details?.issues;
        const ok =
          r.status === 400 &&
          e?.code === c.code &&
          typeof e.message === "string" &&
          Array.isArray(issues) &&
          issues.length > 0 &&
          issues.every((i: Json) => Array.isArray(i.path) && typeof i.message === "string") &&
          (c.field === undefined ||
            (issues.some((i: Json) => i.path[0] === c.field) && e.message.includes(c.field)));
        if (!ok) wrong.push(`${label}: ${r.status} ${r.text.slice(0, 200)}`);
      }
    }
    expect(wrong).toEqual([]);
    // Every JSON body the document shows (users, projects, builder protocol …) and every list's query.
    expect(bodies).toBeGreaterThanOrEqual(25);
    expect(queries).toBeGreaterThanOrEqual(10);
  });

  test("malformed JSON is malformed_json on every operation with a JSON body", async () => {
    const wrong: string[] = [];
    for (const o of operationsOf(doc)) {
      const media = o.op.requestBody?.content?.["application/json"];
      if (!media || media.schema.type) continue;
      const headers: Record<string, string> = { "content-type": "application/json" };
      const security = (o.op.security ?? []).flatMap((x: Json) => Object.keys(x));
      headers.authorization = `Bearer ${security.includes("builderToken") ? builderToken : server.token}`;
      if (o.path.startsWith("/api/v1/builder/")) headers[PROTOCOL_HEADER] = String(PROTOCOL_VERSION);
      const res = await fetch(`${server.url}${o.path.replace(/\{\w+\}/g, "x")}`, {
        method: o.method.toUpperCase(),
        headers,
        body: "{not json",
      });
      const body = (await res.json()) as Json;
      if (res.status !== 400 || body.error?.code !== "malformed_json")
        wrong.push(`${o.id}: ${res.status} ${body.error?.code}`);
    }
    expect(wrong).toEqual([]);
  });
});
