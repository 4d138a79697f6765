// GET /api/v1/openapi.json and a reference page at /api/v1/docs, rendered on the server as plain HTML
// with its own stylesheet: no script and no CDN, so the page passes the app's strict CSP.
import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { buildDocument, openApiPath } from "./document.ts";
import { operations } from "./operations.ts";

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!,
  );

const CSS = `body{font:15px/1.5 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#1b1f24;background:#fff}
@media (prefers-color-scheme:dark){body{color:#e6edf3;background:#0d1117}a{color:#7cb7ff}section{border-color:#30363d!important}}
h2{margin-top:2rem;text-transform:capitalize}section{border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1rem;margin:.5rem 0}
code{font:13px ui-monospace,monospace}.m{display:inline-block;min-width:4rem;font-weight:700}
.GET{color:#1a7f37}.POST{color:#0969da}.PATCH,.PUT{color:#9a6700}.DELETE{color:#cf222e}
details summary{cursor:pointer}pre{overflow:auto;font-size:12px}`;

function page(version: string, doc: ReturnType<typeof buildDocument>): string {
  const tags = [...new Set(operations.map((o) => o.tag))];
  const sections = tags.map((tag) => {
    const ops = operations.filter((o) => o.tag === tag);
    const items = ops.map((o) => {
      const path = openApiPath(o.path);
      const spec = (doc.paths[path] as Record<string, unknown>)[o.method.toLowerCase()];
      return `<section id="${esc(`${o.method}-${path}`)}"><div><span class="m ${o.method}">${o.method}</span> <code>${esc(path)}</code></div>
<p>${esc(o.summary)}${o.role ? ` — <em>needs ${esc(o.role)}</em>` : ""}</p>
<details><summary>Parameters, body and responses</summary><pre>${esc(JSON.stringify(spec, null, 2))}</pre></details></section>`;
    });
    return `<h2 id="${esc(tag)}">${esc(tag)}</h2>\n${items.join("\n")}`;
  });
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Cairn CI API reference</title><link rel="stylesheet" href="/api/v1/docs/style.css"></head><body>
<h1>Cairn CI API <small>${esc(version)}</small></h1>
<p>The machine-readable document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI 3.1). Authenticate with
<code>Authorization: Bearer &lt;token&gt;</code>. Errors are <code>{"error":{"code","message","details"}}</code>.</p>
<nav><ul>${tags.map((t) => `<li><a href="#${esc(t)}">${esc(t)}</a></li>`).join("")}</ul></nav>
${sections.join("\n")}
<h2 id="schemas">Schemas</h2><pre>${esc(JSON.stringify(doc.components.schemas, null, 2))}</pre>
</body></html>`;
}

export const openApiRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  let doc: ReturnType<typeof buildDocument> | undefined;
  let html: string | undefined;
  const document = () => {
    doc ??= buildDocument(deps.version);
    return doc;
  };

  app.get("/openapi.json", (c) => c.json(document()));
  app.get("/docs", (c) => {
    html ??= page(deps.version, document());
    return c.html(html);
  });
  app.get("/docs/style.css", (c) => c.body(CSS, 200, { "content-type": "text/css; charset=utf-8" }));
  return app;
};
