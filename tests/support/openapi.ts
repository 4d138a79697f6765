// The API's own OpenAPI document as a test oracle: find an operation by its operationId, fill in its
// path, and check an answer against the schema the document gives for that status (Ajv, 2020-12).
import Ajv2020 from "ajv/dist/2020.js";
import type { TestServer } from "./server.ts";

// biome-ignore lint/suspicious/noExplicitAny: the document is walked generically
export type Json = any;

export interface DocOperation {
  id: string;
  method: string;
  /** OpenAPI path, `{param}`s unfilled. */
  path: string;
  op: Json;
}

export function operationsOf(doc: Json): DocOperation[] {
  const out: DocOperation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
    for (const [method, op] of Object.entries(item)) out.push({ id: op.operationId, method, path, op });
  }
  return out;
}

/** A `$ref`'d schema's target (one level at a time), or the schema itself. */
export function deref(doc: Json, s: Json): Json {
  while (s?.$ref) s = doc.components.schemas[s.$ref.replace("#/components/schemas/", "")];
  return s;
}

/** Checks answers against the document: every status must be documented, every JSON body match. */
export class ResponseChecker {
  private ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  readonly seen = new Set<string>();
  constructor(private doc: Json) {
    this.ajv.addSchema({ $id: "https://cairn.invalid/doc", components: { schemas: doc.components.schemas } });
  }

  /** Problems with this answer of `opId`, or [] when it is what the document says. */
  check(opId: string, status: number, body: unknown): string[] {
    const o = operationsOf(this.doc).find((x) => x.id === opId);
    if (!o) return [`${opId}: no such operation`];
    let r = o.op.responses[String(status)];
    if (!r) return [`${opId}: answered ${status}, which the document does not list`];
    if (r.$ref) r = this.doc.components.responses[r.$ref.replace("#/components/responses/", "")];
    const schema = r.content?.["application/json"]?.schema;
    if (!schema) return [];
    this.seen.add(opId);
    const linked = JSON.parse(
      JSON.stringify(schema).replaceAll(
        '"#/components/schemas/',
        '"https://cairn.invalid/doc#/components/schemas/',
      ),
    );
    const validate = this.ajv.compile(linked);
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) => `${opId} ${status}: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`,
    );
  }
}

/** Calls an operation by id with the path filled in from `params`; checks the answer against the document. */
export function caller(server: TestServer, doc: Json, checker: ResponseChecker, problems: string[]) {
  return async (
    opId: string,
    params: Record<string, string> = {},
    init: RequestInit & { json?: unknown; query?: string } = {},
  ) => {
    const o = operationsOf(doc).find((x) => x.id === opId);
    if (!o) throw new Error(`no operation ${opId}`);
    const path = o.path.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(params[k] ?? "x"));
    const res = await server.api(`${path}${init.query ? `?${init.query}` : ""}`, {
      ...init,
      method: o.method.toUpperCase(),
    });
    const text = await res.text();
    let json: Json = null;
    if ((res.headers.get("content-type") ?? "").includes("json") && text) json = JSON.parse(text);
    problems.push(...checker.check(opId, res.status, json));
    return { status: res.status, json, headers: res.headers, text };
  };
}
