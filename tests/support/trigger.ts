// A trigger answers before its pipeline is planned (state `created`). Suites that read the planned
// workflows and jobs from the answer ask it to wait for them with `Prefer: wait=60`, unless they set
// a `Prefer` of their own (`respond-async`: the answer at once, as every client gets by default).

/** The header a trigger request adds to wait for its plan: `{prefer}` or nothing. */
export function waitForPlan(
  path: string,
  method: string | undefined,
  headers?: HeadersInit,
): Record<string, string> {
  const trigger = method === "POST" && /^\/api\/v1\/projects\/[^/]+\/pipelines$/.test(path);
  return trigger && !new Headers(headers).has("prefer") ? { prefer: "wait=60" } : {};
}
