// The request validator: `app.post(path, validate(ops.x), handler)` checks path parameters, query and
// JSON body against the operation's zod schemas (the ones the OpenAPI document shows) and hands the
// parsed values to the handler as `c.req.valid("param" | "query" | "json")`. Invalid input is a 400
// `{"error":{"code":"invalid_body"|"invalid_query"|"invalid_params","message","details":{issues}}}`.
import type { MiddlewareHandler } from "hono";
import type { z } from "zod";
import { BadRequest } from "../errors.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import type { Operation } from "./operation.ts";

export interface Issue {
  path: PropertyKey[];
  message: string;
}

/** A union's issue stands for the branch that came closest; every other issue is itself. */
function flatten(issues: readonly z.core.$ZodIssue[]): Issue[] {
  return issues.flatMap((i): Issue[] => {
    if (i.code === "invalid_union" && i.errors.length) {
      const best = [...i.errors].sort((a, b) => a.length - b.length)[0];
      return flatten(best).map((x) => ({ path: [...i.path, ...x.path], message: x.message }));
    }
    return [{ path: i.path, message: i.message }];
  });
}

/** The 400 for input that failed its schema: the message names each field and what is wrong. */
export function invalidInput(code: string, where: string, issues: readonly z.core.$ZodIssue[]): BadRequest {
  const flat = flatten(issues).map((i) => ({
    path: i.path.map((p) => (typeof p === "number" ? p : String(p))),
    message: i.message,
  }));
  const message = flat
    .slice(0, 5)
    .map((i) => `${i.path.length ? `\`${i.path.join(".")}\`` : where}: ${i.message}`)
    .join("; ");
  // `field` names the first field at fault, as the handlers' own 400s do.
  const field = flat.find((i) => i.path.length)?.path[0];
  return new BadRequest(
    message || `${where} is not valid`,
    { ...(field ? { field } : {}), issues: flat },
    code,
  );
}

const parse = <S extends z.ZodType>(schema: S, value: unknown, code: string, where: string) => {
  const r = schema.safeParse(value);
  if (!r.success) throw invalidInput(code, where, r.error.issues);
  return r.data as z.output<S>;
};

type Valid<O extends Operation> = (O["params"] extends z.ZodType
  ? { param: z.output<O["params"]> }
  : object) &
  (O["query"] extends z.ZodType ? { query: z.output<O["query"]> } : object) &
  (O["body"] extends z.ZodType ? { json: z.output<O["body"]> } : object);

/** Reads the body as JSON: malformed JSON is `malformed_json`; an optional body without JSON is `{}`. */
async function jsonBody(c: Parameters<MiddlewareHandler>[0], optional: boolean): Promise<unknown> {
  if (optional && !/json/i.test(c.req.header("content-type") ?? "")) return {};
  const text = await c.req.text();
  if (optional && text === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest("the request body is not valid JSON", undefined, "malformed_json");
  }
}

export function validate<const O extends Operation>(
  op: O,
): MiddlewareHandler<AuthEnv, string, { in: object; out: Valid<O> }> {
  return async (c, next) => {
    // The operation must be the one this route is: a validator wired to the wrong route is a bug.
    if (c.req.routePath !== op.path) {
      throw new Error(`validate(${op.method} ${op.path}) is mounted on ${c.req.routePath}`);
    }
    if (op.params)
      c.req.addValidatedData("param", parse(op.params, c.req.param(), "invalid_params", "the path"));
    if (op.query)
      c.req.addValidatedData("query", parse(op.query, c.req.query(), "invalid_query", "the query"));
    if (op.body) {
      const body = await jsonBody(c, op.bodyOptional === true);
      c.req.addValidatedData("json", parse(op.body, body, "invalid_body", "the request body") as object);
    }
    await next();
  };
}
