// Pieces every schema uses: times, cursor pages, the error shape. Zod 4 schemas; the OpenAPI document
// is generated from them (document.ts), and routes validate against the same objects (validate.ts).
import { z } from "zod";

/** An ISO 8601 time as the API writes it (`iso()` in services/ids.ts). */
export const time = (description?: string) =>
  z.string().meta({ format: "date-time", ...(description ? { description } : {}) });
/** A time that may not have happened yet. */
export const ntime = (description?: string) => time(description).nullable();

/** A cursor page: `{items, next_cursor}`; pass `?cursor=<next_cursor>` for the next one. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().describe("null on the last page"),
  });

/** `?cursor=&limit=` of a list; `max` is the largest `limit` the list allows. */
export const pageQuery = (max = 200) =>
  z.object({
    cursor: z
      .string()
      .regex(/^[\w-]{0,400}$/, "must be a `next_cursor` this list gave out")
      .optional()
      .describe("`next_cursor` of the previous page"),
    limit: z.coerce.number().int().min(1).max(max).optional().describe(`items per page (1-${max})`),
  });

/** A path, query or header value that must be a non-negative line or event number. */
export const counter = (description: string, digits = 12) =>
  z
    .string()
    .regex(new RegExp(`^\\d{0,${digits}}$`), "must be a whole number")
    .optional()
    .describe(description);

export const ErrorBody = z.object({
  error: z.object({
    code: z.string().describe("machine-readable, e.g. invalid_body, not_found, forbidden"),
    message: z.string().describe("for people: which field, what is wrong"),
    details: z
      .unknown()
      .optional()
      .describe("what the error is about; for invalid input `{issues: [{path, message}]}`"),
  }),
});

/** An answer whose fields are not pinned down here (a builder's free-form or a forge's). */
export const anyObject = z.record(z.string(), z.unknown());
