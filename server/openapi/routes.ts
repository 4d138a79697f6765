// GET /api/v1/openapi.json and a reference page at /api/v1/docs, rendered on the server as plain HTML
// with its own stylesheet: no script and no CDN, so the page passes the app's strict CSP.
import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import type { buildDocument } from "./document.ts";
import { operations } from "./operations.ts";

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!,
  );

const CSS = `body{font:15px/1.5 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#1b1f24;background:#fff}
@media (prefers-color-scheme:dark){body{color:#e6edf3;background:#0d1117}a{color:#7cb7ff}section,td,th{border-color:#30363d!important}}
h2{margin-top:2rem;text-transform:capitalize}section{border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1rem;margin:.5rem 0}
code{font:13px ui-monospace,monospace}.m{display:inline-block;min-width:4rem;font-weight:700}
.GET{color:#1a7f37}.POST{color:#0969da}.PATCH,.PUT{color:#9a6700}.DELETE{color:#cf222e}
table{border-collapse:collapse;margin:.25rem 0;font-size:14px}td,th{border:1px solid #d0d7de;padding:.15rem .5rem;text-align:left;vertical-align:top}
h4{margin:.5rem 0 .25rem}details summary{cursor:pointer}pre{overflow:auto;font-size:12px}`;

type Json = Record<string, unknown> & { $ref?: string };
const REF = "#/components/schemas/";

/** A schema as a link to its component, or its JSON inline (with its own refs linked). */
function schemaHtml(schema: Json | undefined): string {
  if (!schema) return "";
  if (schema.$ref?.startsWith(REF)) {
    const name = schema.$ref.slice(REF.length);
    return `<a href="#schema-${esc(name)}"><code>${esc(name)}</code></a>`;
  }
  return `<pre>${linkRefs(esc(JSON.stringify(schema, null, 2)))}</pre>`;
}

/** In escaped JSON, every `"#/components/schemas/X"` becomes a link to X's section. */
const linkRefs = (escaped: string) =>
  escaped.replace(
    /&quot;#\/components\/schemas\/(\w+)&quot;/g,
    (_, name: string) => `<a href="#schema-${name}">&quot;${name}&quot;</a>`,
  );

function operationHtml(spec: Json): string {
  const params = (spec.parameters ?? []) as {
    name: string;
    in: string;
    required: boolean;
    description?: string;
    schema: Json;
  }[];
  const parts: string[] = [];
  if (params.length) {
    const rows = params.map(
      (p) =>
        `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? "yes" : ""}</td><td><code>${esc(JSON.stringify(p.schema))}</code></td><td>${esc(p.description ?? "")}</td></tr>`,
    );
    parts.push(
      `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>schema</th><th></th></tr>${rows.join("")}</table>`,
    );
  }
  const body = spec.requestBody as
    | { required: boolean; content: Record<string, { schema: Json }> }
    | undefined;
  if (body) {
    for (const [type, media] of Object.entries(body.content))
      parts.push(
        `<h4>Body${body.required ? "" : " (optional)"}: <code>${esc(type)}</code></h4>${schemaHtml(media.schema)}`,
      );
  }
  const rows = Object.entries(spec.responses as Record<string, Json>).map(([status, r]) => {
    if (r.$ref) return `<tr><td>${esc(status)}</td><td><a href="#errors">error</a></td></tr>`;
    const content = (r.content ?? {}) as Record<string, { schema: Json }>;
    const media = Object.entries(content)
      .map(([type, m]) => (type === "application/json" ? schemaHtml(m.schema) : `<code>${esc(type)}</code>`))
      .join(" ");
    return `<tr><td>${esc(status)}</td><td>${esc(String(r.description ?? ""))} ${media}</td></tr>`;
  });
  parts.push(`<h4>Responses</h4><table>${rows.join("")}</table>`);
  return parts.join("\n");
}

function page(
  version: string,
  doc: ReturnType<typeof buildDocument>,
  openApiPath: (honoPath: string) => string,
): string {
  const tags = [...new Set(operations.map((o) => o.tag))];
  const sections = tags.map((tag) => {
    const ops = operations.filter((o) => o.tag === tag);
    const items = ops.map((o) => {
      const path = openApiPath(o.path);
      const spec = (doc.paths[path] as Record<string, Json>)[o.method.toLowerCase()];
      return `<section id="${esc(o.id)}"><div><span class="m ${o.method}">${o.method}</span> <code>${esc(path)}</code></div>
<p>${esc(o.summary)}${o.role ? ` — <em>needs ${esc(o.role)}</em>` : ""} <small><code>${esc(o.id)}</code></small></p>
<details><summary>Parameters, body and responses</summary>${operationHtml(spec)}</details></section>`;
    });
    return `<h2 id="${esc(tag)}">${esc(tag)}</h2>\n${items.join("\n")}`;
  });
  const schemas = Object.entries(doc.components.schemas).map(
    ([name, s]) =>
      `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3><pre>${linkRefs(esc(JSON.stringify(s, null, 2)))}</pre></section>`,
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Cairn CI API reference</title><link rel="stylesheet" href="/api/v1/docs/style.css"></head><body>
<h1>Cairn CI API <small>${esc(version)}</small></h1>
<p>The machine-readable document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI 3.1). Authenticate with
<code>Authorization: Bearer &lt;token&gt;</code>.</p>
<p id="errors">Errors are <code>{"error":{"code","message","details"}}</code>. Invalid input is a 400: <code>malformed_json</code>, or
<code>invalid_body</code> / <code>invalid_query</code> / <code>invalid_params</code> with <code>details.issues</code>, one
<code>{path, message}</code> per field. Lists are cursor pages: <code>?cursor=&amp;limit=</code> → <code>{items, next_cursor}</code>.</p>
<nav><ul>${tags.map((t) => `<li><a href="#${esc(t)}">${esc(t)}</a></li>`).join("")}<li><a href="#schemas">schemas</a></li></ul></nav>
${sections.join("\n")}
<h2 id="schemas">Schemas</h2>
${schemas.join("\n")}
</body></html>`;
}

export const openApiRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  let doc: ReturnType<typeof buildDocument> | undefined;
  let html: string | undefined;
  // document.ts (and the response schemas it reads) is loaded on the first ask, not at start.
  const generator = () => import("./document.ts");
  const document = async () => {
    doc ??= (await generator()).buildDocument(deps.version);
    return doc;
  };

  app.get("/openapi.json", async (c) => c.json(await document()));
  app.get("/docs", async (c) => {
    html ??= page(deps.version, await document(), (await generator()).openApiPath);
    return c.html(html);
  });
  app.get("/docs/style.css", (c) => c.body(CSS, 200, { "content-type": "text/css; charset=utf-8" }));
  return app;
};
