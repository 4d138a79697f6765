// The OpenAPI 3.1 document, built from operations.ts and schemas.ts once per process.
import { type Auth, type Operation, operations } from "./operations.ts";
import { ref, schemas } from "./schemas.ts";

const ERRORS: Record<number, string> = {
  400: "Invalid input: malformed JSON, a wrong field, a bad query parameter",
  401: "No valid credentials",
  403: "Authenticated, but the role or the token's scopes do not allow it",
  404: "Not found, or in a project the caller may not read",
  409: "Conflicts with the current state",
  413: "The body is too large",
  422: "Well-formed but not processable (e.g. the pipeline's config is invalid)",
  429: "Too many attempts: wait Retry-After seconds",
  501: "Not available on this server's runtime",
  502: "An upstream (the forge) failed",
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

function operation(op: Operation) {
  const params: Record<string, unknown>[] = [];
  for (const m of openApiPath(op.path).matchAll(/\{(\w+)\}/g)) {
    params.push({ name: m[1], in: "path", required: true, schema: { type: "string" } });
  }
  for (const [name, description] of Object.entries(op.query ?? {})) {
    params.push({ name, in: "query", required: false, description, schema: { type: "string" } });
  }
  const errors = new Set(op.errors ?? []);
  if (op.auth === "user" || op.auth === "builder") errors.add(401);
  if (op.auth === "user" && (op.role || op.method !== "GET")) errors.add(403);
  if (op.auth === "signature") errors.add(401);
  if (op.auth === "capability") errors.add(403);
  if (op.path.includes(":")) errors.add(404);
  if (op.body) errors.add(400);
  const ok: Record<string, unknown> = { description: op.ok.description ?? "Success" };
  if (op.ok.schema) ok.content = { "application/json": { schema: op.ok.schema } };
  else if (op.ok.type) ok.content = { [op.ok.type]: { schema: { type: "string" } } };
  const responses: Record<string, unknown> = { [String(op.ok.status)]: ok };
  for (const status of [...errors].sort())
    responses[String(status)] = { $ref: `#/components/responses/E${status}` };
  const who = op.role ? ` Needs: ${op.role}.` : "";
  return {
    operationId: `${op.method.toLowerCase()}${openApiPath(op.path)
      .replace(/^\/api\/v1/, "")
      .replace(/\{(\w+)\}/g, "By_$1")
      .replace(/[^A-Za-z0-9]+(\w)?/g, (_, ch: string | undefined) => (ch ?? "").toUpperCase())}`,
    tags: [op.tag],
    summary: op.summary,
    description: `${op.summary}.${who}`,
    security: SECURITY[op.auth],
    ...(params.length ? { parameters: params } : {}),
    ...(op.body
      ? { requestBody: { required: true, content: { "application/json": { schema: op.body } } } }
      : {}),
    responses,
  };
}

export function buildDocument(version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const p = openApiPath(op.path);
    paths[p] ??= {};
    paths[p][op.method.toLowerCase()] = operation(op);
  }
  const responses: Record<string, unknown> = {};
  for (const [status, description] of Object.entries(ERRORS)) {
    responses[`E${status}`] = { description, content: { "application/json": { schema: ref("Error") } } };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Cairn CI",
      version,
      description:
        'The REST API of Cairn CI. Errors are `{"error":{"code","message","details"}}`; lists are cursor pages (`?cursor=&limit=` → `{items, next_cursor}`).',
    },
    servers: [{ url: "/" }],
    tags: [...new Set(operations.map((o) => o.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas,
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
