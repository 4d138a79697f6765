// The builder's side of server/protocol.ts: one method per call, retries decided in retryable.ts.
import {
  type AcquireRequest,
  contentRange,
  type FinishReport,
  type HeartbeatResponse,
  type JobPayload,
  type LogAck,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  type RegisterRequest,
  type RegisterResponse,
  routes,
  type StepReport,
} from "../server/protocol.ts";
import { ApiCallError, backoff, isRetryableError, sleep } from "./retryable.ts";

export interface ClientTls {
  /** PEM of the CA the server's certificate must chain to; when set, no other CA is trusted. */
  ca?: string;
}

export class ServerClient {
  constructor(
    readonly server: string,
    private readonly token?: string,
    private readonly tls: ClientTls = {},
  ) {}

  private async call(method: string, path: string, body?: BodyInit | object, headers: Record<string, string> = {}, signal?: AbortSignal) {
    const h: Record<string, string> = { [PROTOCOL_HEADER]: String(PROTOCOL_VERSION), ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    let payload: BodyInit | undefined;
    if (body instanceof Uint8Array) {
      payload = body as unknown as BodyInit;
      h["content-type"] = "application/octet-stream";
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      h["content-type"] = "application/json";
    }
    const res = await fetch(new URL(path, this.server), {
      method,
      headers: h,
      body: payload,
      signal,
      ...(this.tls.ca ? { tls: { ca: this.tls.ca, rejectUnauthorized: true } } : {}),
    });
    const text = await res.text();
    const json = text ? safeJson(text) : null;
    if (!res.ok && res.status !== 416) {
      const err = (json as { error?: { code?: string; message?: string } } | null)?.error;
      throw new ApiCallError(res.status, err?.code ?? "http_error", err?.message ?? `${method} ${path}: HTTP ${res.status}`, json);
    }
    return { status: res.status, json };
  }

  /** Retries network errors, 429 and 5xx with backoff until `signal` aborts or `attempts` run out. */
  async retrying<T>(fn: () => Promise<T>, signal?: AbortSignal, attempts = Number.POSITIVE_INFINITY): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (!isRetryableError(err) || i + 1 >= attempts || signal?.aborted) throw err;
        await sleep(backoff(i), signal);
      }
    }
  }

  async register(req: RegisterRequest): Promise<RegisterResponse> {
    return (await this.call("POST", routes.register, req)).json as RegisterResponse;
  }

  async acquire(req: AcquireRequest, signal?: AbortSignal): Promise<JobPayload | null> {
    const r = await this.call("POST", routes.acquire, req, {}, signal);
    return r.status === 204 ? null : (r.json as JobPayload);
  }

  async heartbeat(jobId: string): Promise<HeartbeatResponse> {
    return (await this.call("POST", routes.heartbeat(jobId), {})).json as HeartbeatResponse;
  }

  /** Uploads bytes at `offset`; resolves with the server's acknowledged offset (also on a 416 gap). */
  async log(jobId: string, offset: number, bytes: Uint8Array): Promise<{ accepted: boolean; offset: number }> {
    const r = await this.call("PATCH", routes.log(jobId), bytes, { "content-range": contentRange(offset, bytes.length) });
    return { accepted: r.status !== 416, offset: (r.json as LogAck).offset };
  }

  async step(jobId: string, report: StepReport): Promise<void> {
    await this.call("POST", routes.step(jobId), report);
  }

  async finish(jobId: string, report: FinishReport): Promise<{ ok: boolean; offset?: number }> {
    const r = await this.call("POST", routes.finish(jobId), report);
    return r.status === 416 ? { ok: false, offset: (r.json as LogAck).offset } : { ok: true };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { error: { code: "bad_response", message: text.slice(0, 200) } };
  }
}
