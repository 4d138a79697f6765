// API errors: a class per kind, each with a code and an HTTP status, rendered by one onError
// as {"error":{"code","message","details"}}.
import type { ContentfulStatusCode } from "hono/utils/http-status";

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export class BadRequest extends ApiError {
  constructor(message: string, details?: unknown, code = "bad_request") {
    super(400, code, message, details);
  }
}

export class Unauthorized extends ApiError {
  constructor(message = "a valid API token is required (Authorization: Bearer <token>)") {
    super(401, "unauthorized", message);
  }
}

export class Forbidden extends ApiError {
  constructor(message = "you do not have permission to do this") {
    super(403, "forbidden", message);
  }
}

export class NotFound extends ApiError {
  constructor(what: string, id: string) {
    super(404, "not_found", `${what} ${JSON.stringify(id)} does not exist`, { [what]: id });
  }
}

export class Conflict extends ApiError {
  constructor(message: string, details?: unknown, code = "conflict") {
    super(409, code, message, details);
  }
}

export class Unprocessable extends ApiError {
  constructor(code: string, message: string, details?: unknown) {
    super(422, code, message, details);
  }
}

/** The server is behind (log commits, say) and sheds load: the client retries after `retryAfterMs` (also sent as Retry-After). */
export class Busy extends ApiError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
    code = "busy",
  ) {
    super(503, code, message, { retry_after_ms: retryAfterMs });
  }
}

export function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}
