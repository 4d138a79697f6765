// Cursor pagination for lists: `?cursor=&limit=` → `{items, next_cursor}`. The cursor is the last
// item's sort key, opaque to clients (base64url), so a list can change its key without breaking them.
import { BadRequest } from "../errors.ts";

export interface PageParams {
  /** The sort key to continue after, or undefined for the first page. */
  after: string | undefined;
  limit: number;
}

/** The page a list's validated `?cursor=&limit=` (openapi/schemas/common.ts pageQuery) asks for. */
export function pageParams(q: { cursor?: string; limit?: number }, defaultLimit = 50): PageParams {
  const limit = q.limit ?? defaultLimit;
  const cursor = q.cursor;
  if (cursor === undefined || cursor === "") return { after: undefined, limit };
  let after: string;
  try {
    after = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    throw new BadRequest("`cursor` is not a cursor this list gave out", { field: "cursor" }, "invalid_query");
  }
  return { after, limit };
}

/** Fetch `limit + 1` rows, then cut: the extra row says there is a next page. */
export function page<T, I>(rows: T[], limit: number, key: (row: T) => string, present: (row: T) => I) {
  const items = rows.slice(0, limit);
  const more = rows.length > limit;
  const last = items[items.length - 1];
  const next =
    more && last ? btoa(key(last)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") : null;
  return { items: items.map(present), next_cursor: next };
}
