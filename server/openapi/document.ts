// The OpenAPI 3.1 document, generated from operations.ts: zod 4's toJSONSchema turns every request
// and response schema into JSON Schema (draft 2020-12, OpenAPI 3.1's dialect) once per process.
import { z } from "zod";
import * as proto from "../../protocol/schemas.ts";
import type { Answer, Auth, Operation } from "./operation.ts";
import { ErrorBody, operations } from "./operations.ts";
import * as rq from "./schemas/requests.ts";
import * as rs from "./schemas/responses.ts";

type Json = Record<string, unknown>;

const ERRORS: Record<number, string> = {
  400: "Invalid input: malformed JSON (`malformed_json`), a body, query or path parameter that fails its schema (`invalid_body`, `invalid_query`, `invalid_params`, with `details.issues`)",
  401: "No valid credentials",
  403: "Authenticated, but the role or the token's scopes do not allow it",
  404: "Not found, or in a project the caller may not read",
  409: "Conflicts with the current state",
  413: "The body is too large",
  416: "A log range that does not continue the stored log: `offset` says where it ends",
  422: "Well-formed but not processable (e.g. the pipeline's config is invalid)",
  429: "Too many attempts: wait Retry-After seconds",
  501: "Not available on this server's runtime",
  502: "An upstream (the forge) failed",
  503: "The server is behind (`ingest_busy`: log commits): send it again after Retry-After seconds (`details.retry_after_ms`)",
};

/** Bodies a handler reads itself (checked by signature, Content-Range or a parser): what they hold. */
const RAW: Record<string, Json> = {
  "application/json": { type: "object", description: "the forge's event payload, checked by its signature" },
  "application/octet-stream": { type: "string", contentMediaType: "application/octet-stream" },
  "application/xml": { type: "string", contentMediaType: "application/xml", description: "JUnit XML" },
};

const SECURITY: Record<Auth, Record<string, string[]>[]> = {
  none: [],
  user: [{ apiToken: [] }, { sessionCookie: [] }],
  builder: [{ builderToken: [] }],
  signature: [],
  capability: [],
};

/** `/jobs/:id/artifacts/*` → `/jobs/{id}/artifacts/{path}`. */
export const openApiPath = (honoPath: string) =>
  honoPath.replace(/:(\w+)/g, "{$1}").replace(/\/\*$/, "/{path}");

const QUERY = /Query$|^Page$/;
const REQUEST = /Request$|Report$/;

/** Component names of one side: each exported schema by its export name (a page of X is `XPage`). */
function named(side: "input" | "output"): Map<z.ZodType, string> {
  const names = new Map<z.ZodType, string>();
  const add = (name: string, s: unknown) => {
    if (s instanceof z.ZodType && !QUERY.test(name)) names.set(s, name);
  };
  if (side === "input") {
    for (const [name, s] of Object.entries(rq)) add(name, s);
    for (const [name, s] of Object.entries(proto)) if (REQUEST.test(name)) add(name, s);
  } else {
    for (const [name, s] of Object.entries(rs)) add(name, s);
    for (const [name, s] of Object.entries(proto)) if (!REQUEST.test(name)) add(name, s);
    for (const [name, s] of Object.entries(rs.Pages)) add(`${name}Page`, s);
    add("Error", ErrorBody);
  }
  return names;
}

/** JSON Schema for each schema: named ones as components, the rest inline; `$ref`s point at components. */
function convert(schemas: z.ZodType[], io: "input" | "output") {
  const names = named(io);
  const registry = z.registry<{ id: string }>();
  const ids = new Map<z.ZodType, string>();
  let n = 0;
  const add = (s: z.ZodType, id: string) => {
    if (ids.has(s)) return;
    ids.set(s, id);
    registry.add(s, { id });
  };
  for (const [s, id] of names) add(s, id);
  for (const s of schemas) add(s, `__inline${n++}`);
  const out = z.toJSONSchema(registry, {
    io,
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: "any",
  }).schemas as Record<string, Json>;
  for (const s of Object.values(out)) {
    delete s.$schema;
    delete s.$id;
  }
  return { out, ids };
}

const paramsOf = (schema: z.ZodObject | undefined, where: "query" | "path") => {
  if (!schema) return [];
  const js = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Json;
  const required = new Set((js.required as string[] | undefined) ?? []);
  return Object.entries((js.properties ?? {}) as Record<string, Json>).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: where,
      required: where === "path" || required.has(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
};

/** An answer's schema; one of schemas/responses.ts is named by a function that picks it from the module. */
const answerSchema = (a: Answer): z.ZodType | undefined =>
  typeof a.schema === "function" ? a.schema(rs) : a.schema;

export function buildDocument(version: string) {
  const inputs = operations.flatMap((o) => (o.body ? [o.body] : []));
  const answers = (o: Operation): Answer[] => [o.ok, ...(o.more ?? [])];
  const outputs = [ErrorBody, ...operations.flatMap((o) => answers(o).flatMap((a) => answerSchema(a) ?? []))];
  const req = convert(inputs, "input");
  const res = convert(outputs, "output");
  const components: Record<string, Json> = {};
  const schemaOf = (s: z.ZodType, side: typeof req) => {
    const id = side.ids.get(s)!;
    if (!id.startsWith("__inline")) return { $ref: `#/components/schemas/${id}` };
    return side.out[id];
  };
  for (const side of [req, res]) {
    for (const [id, s] of Object.entries(side.out)) {
      if (id.startsWith("__inline")) continue;
      if (components[id]) throw new Error(`two schemas are named ${id}`);
      components[id] = s;
    }
  }

  const paths: Record<string, Record<string, unknown>> = {};
  for (const o of operations) {
    const path = openApiPath(o.path);
    const pathParams = paramsOf(o.params, "path");
    for (const m of path.matchAll(/\{(\w+)\}/g)) {
      if (!pathParams.some((p) => p.name === m[1]))
        pathParams.push({ name: m[1], in: "path", required: true, schema: { type: "string" } });
    }
    const headers = Object.entries(o.headers ?? {}).map(([name, description]) => ({
      name,
      in: "header",
      required: false,
      description,
      schema: { type: "string" },
    }));
    const parameters = [...pathParams, ...paramsOf(o.query, "query"), ...headers];

    const errors = new Set(o.errors ?? []);
    if (o.auth === "user" || o.auth === "builder" || o.auth === "signature") errors.add(401);
    if (o.auth === "user" && (o.role || o.method !== "GET")) errors.add(403);
    if (o.auth === "capability") errors.add(403);
    if (o.path.includes(":")) errors.add(404);
    if (o.body || o.query || o.params || o.auth === "builder") errors.add(400);
    const responses: Record<string, unknown> = {};
    for (const a of answers(o)) {
      const r: Json = { description: a.description ?? "Success" };
      const schema = answerSchema(a);
      if (schema) r.content = { "application/json": { schema: schemaOf(schema, res) } };
      else if (a.type) r.content = { [a.type]: { schema: { type: "string" } } };
      responses[String(a.status)] = r;
    }
    for (const status of [...errors].sort())
      responses[String(status)] = { $ref: `#/components/responses/E${status}` };

    const who = o.role ? ` Needs: ${o.role}.` : "";
    const body = o.body
      ? { required: !o.bodyOptional, content: { "application/json": { schema: schemaOf(o.body, req) } } }
      : o.rawBody
        ? { required: true, content: { [o.rawBody]: { schema: RAW[o.rawBody] ?? { type: "string" } } } }
        : undefined;
    paths[path] ??= {};
    paths[path][o.method.toLowerCase()] = {
      operationId: o.id,
      tags: [o.tag],
      summary: o.summary,
      description: `${o.summary}.${who}`,
      security: SECURITY[o.auth],
      ...(parameters.length ? { parameters } : {}),
      ...(body ? { requestBody: body } : {}),
      responses,
    };
  }

  const responses: Record<string, unknown> = {};
  for (const [status, description] of Object.entries(ERRORS)) {
    responses[`E${status}`] = {
      description,
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Cairn CI",
      version,
      description:
        'The REST API of Cairn CI. Errors are `{"error":{"code","message","details"}}`; invalid input is a 400 whose `details.issues` lists `{path, message}` per field; lists are cursor pages (`?cursor=&limit=` → `{items, next_cursor}`).',
    },
    servers: [{ url: "/" }],
    tags: [...new Set(operations.map((o) => o.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: components,
      responses,
      securitySchemes: {
        apiToken: {
          type: "http",
          scheme: "bearer",
          description: "a personal API token (scopes read, write, admin)",
        },
        sessionCookie: {
          type: "apiKey",
          in: "cookie",
          name: "cairn_session",
          description: "the web UI's session; writes also need the X-Cairn-CSRF header",
        },
        builderToken: { type: "http", scheme: "bearer", description: "a registered builder's token" },
      },
    },
  };
}
