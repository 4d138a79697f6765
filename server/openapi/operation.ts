// One API operation as data: method, path (Hono syntax), who may call it, and zod schemas for what it
// takes and answers. document.ts turns the list (operations.ts) into OpenAPI 3.1; validate.ts turns
// one operation into the middleware that checks a request against exactly those schemas.
import type { z } from "zod";
import type * as Responses from "./schemas/responses.ts";

export type Auth = "none" | "user" | "builder" | "signature" | "capability";

/**
 * An answer's schema from schemas/responses.ts, picked from that module when the document is built:
 * nothing checks answers at run time, so the module is evaluated only for the document, not at the
 * server's start (issue 19, start-up).
 */
export type ResponseSchema = (responses: typeof Responses) => z.ZodType;

export interface Answer {
  status: number;
  /** A JSON body's schema. */
  schema?: z.ZodType | ResponseSchema;
  /** A body that is not JSON, by media type. */
  type?: string;
  description?: string;
}

export interface Operation {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  tag: string;
  summary: string;
  auth: Auth;
  /** The role it needs, for the description: a project role, or `org admin`. */
  role?: string;
  /** Path parameters beyond "a string" (each `:name` in the path is one). */
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** A JSON body. */
  body?: z.ZodType;
  /** The body may be left out (no JSON Content-Type); it is then checked as `{}`. */
  bodyOptional?: boolean;
  /** A body that is not JSON, by media type: documented here, read and checked by the handler. */
  rawBody?: string;
  /** Request headers the handler reads, name → description. */
  headers?: Record<string, string>;
  ok: Answer;
  /** Other success answers (a replay, "no job came"). */
  more?: Answer[];
  /** Error statuses beyond what `auth`, `body` and path parameters imply. */
  errors?: number[];
}

/** Keeps an operation's literal types, so `validate(op)` types `c.req.valid(...)` in the handler. */
export const op = <const O extends Operation>(o: O): O => o;
