// Reading and checking request bodies: malformed JSON and wrong shapes are 400s that say what is wrong.
import type { Context } from "hono";
import { BadRequest } from "../errors.ts";

export async function readJson(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new BadRequest("the request body is not valid JSON", undefined, "malformed_json");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadRequest("the request body must be a JSON object", undefined, "invalid_body");
  }
  return body as Record<string, unknown>;
}

export function str(
  body: Record<string, unknown>,
  key: string,
  opts: { required?: boolean; max?: number } = {},
) {
  const v = body[key];
  if (v === undefined || v === null) {
    if (opts.required) throw new BadRequest(`\`${key}\` is required`, { field: key }, "invalid_body");
    return undefined;
  }
  if (typeof v !== "string" || v.length === 0) {
    throw new BadRequest(`\`${key}\` must be a non-empty string`, { field: key }, "invalid_body");
  }
  if (v.length > (opts.max ?? 1024)) {
    throw new BadRequest(
      `\`${key}\` is longer than ${opts.max ?? 1024} characters`,
      { field: key },
      "invalid_body",
    );
  }
  return v;
}

export function int(
  body: Record<string, unknown>,
  key: string,
  fallback: number,
  min = 0,
  max = 1_000_000,
): number {
  const v = body[key];
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new BadRequest(
      `\`${key}\` must be an integer from ${min} to ${max}`,
      { field: key },
      "invalid_body",
    );
  }
  return v;
}
