// The REST API from the browser: the session cookie authenticates (it is httpOnly, so no script can
// read it) and every write carries the session's CSRF value in X-Cairn-CSRF.
import type { CairnEvent, Session } from "./types.ts";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> | null = null,
  ) {
    super(message);
  }
}

let session: Session | null = null;
export const currentSession = () => session;

async function errorFrom(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as {
      error?: { code: string; message: string; details?: Record<string, unknown> | null };
    };
    if (body.error)
      return new ApiError(res.status, body.error.code, body.error.message, body.error.details ?? null);
  } catch {}
  return new ApiError(res.status, "http_error", `HTTP ${res.status}`);
}

export async function api<T>(path: string, init: { method?: string; json?: unknown } = {}): Promise<T> {
  const method = init.method ?? "GET";
  const headers: Record<string, string> = { accept: "application/json" };
  if (method !== "GET" && session) headers["x-cairn-csrf"] = session.csrf;
  let body: string | undefined;
  if (init.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(init.json);
  }
  const res = await fetch(`/api/v1${path}`, { method, headers, body, credentials: "same-origin" });
  if (res.status === 401) {
    session = null;
    window.dispatchEvent(new CustomEvent("cairn:signed-out"));
  }
  if (!res.ok) throw await errorFrom(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** The signed-in user, from the cookie (null when signed out). */
export async function loadSession(): Promise<Session | null> {
  try {
    session = await api<Session>("/session");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) session = null;
    else throw err;
  }
  return session;
}

/** Trades an API token, or a login and password, for the session cookie. */
export async function signIn(
  credentials: { token: string } | { login: string; password: string },
): Promise<Session> {
  session = await api<Session>("/session", { method: "POST", json: credentials });
  return session;
}

export async function signOut(): Promise<void> {
  try {
    await api("/session", { method: "DELETE" });
  } finally {
    session = null;
  }
}

const EVENT_TYPES = [
  "pipeline.created",
  "pipeline.finished",
  "pipeline.continued",
  "workflow.finished",
  "job.started",
  "job.finished",
];

/** Live state changes (GET /api/v1/events, SSE with the cookie); returns the unsubscribe. */
export function subscribeEvents(
  onEvent: (ev: CairnEvent) => void,
  onState?: (live: boolean) => void,
): () => void {
  const source = new EventSource("/api/v1/events");
  const handler = (e: MessageEvent) => onEvent(JSON.parse(e.data) as CairnEvent);
  for (const t of EVENT_TYPES) source.addEventListener(t, handler as EventListener);
  source.addEventListener("ready", () => onState?.(true));
  source.onerror = () => onState?.(false);
  return () => source.close();
}
