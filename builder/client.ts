// The builder's side of protocol/index.ts: one method per call, retries decided in retryable.ts.
import {
  type AcquireRequest,
  type BlobUrl,
  type CacheRestoreResponse,
  type CacheSaveResponse,
  contentRange,
  type FinishReport,
  type GoneBuildersRequest,
  type GoneBuildersResponse,
  type HeartbeatResponse,
  type JobPayload,
  type LogAck,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  type RegisterRequest,
  type RegisterResponse,
  routes,
  type SshAuthorizeRequest,
  type SshAuthorizeResponse,
  type SshRecheckRequest,
  type SshRecheckResponse,
  type SshSessionReport,
  type StepReport,
  type TestResultsResponse,
  type WorkspaceAttachResponse,
} from "../protocol/index.ts";
import { ApiCallError, isRetryableError, retryAfterMs, retryDelay, sleep } from "./retryable.ts";

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

  private async call(
    method: string,
    path: string,
    body?: BodyInit | object,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ) {
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
      throw new ApiCallError(
        res.status,
        err?.code ?? "http_error",
        err?.message ?? `${method} ${path}: HTTP ${res.status}`,
        json,
        retryAfterMs(res.headers.get("retry-after"), json),
      );
    }
    return { status: res.status, json };
  }

  /** Retries network errors, 429 and 5xx (waiting as long as the server asks, else backing off) until `signal` aborts or `attempts` run out. */
  async retrying<T>(
    fn: () => Promise<T>,
    signal?: AbortSignal,
    attempts = Number.POSITIVE_INFINITY,
  ): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (!isRetryableError(err) || i + 1 >= attempts || signal?.aborted) throw err;
        await sleep(retryDelay(err, i), signal);
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

  /** Which of these builders the server says are gone (revoked). */
  async goneBuilders(ids: string[]): Promise<string[]> {
    const r = await this.call("POST", routes.goneBuilders, {
      builder_ids: ids,
    } satisfies GoneBuildersRequest);
    return (r.json as GoneBuildersResponse).gone;
  }

  async heartbeat(jobId: string, signal?: AbortSignal): Promise<HeartbeatResponse> {
    return (await this.call("POST", routes.heartbeat(jobId), {}, {}, signal)).json as HeartbeatResponse;
  }

  /** Uploads bytes at `offset`; resolves with the server's acknowledged offset (also on a 416 gap). */
  async log(
    jobId: string,
    offset: number,
    bytes: Uint8Array,
  ): Promise<{ accepted: boolean; offset: number }> {
    const r = await this.call("PATCH", routes.log(jobId), bytes, {
      "content-range": contentRange(offset, bytes.length),
    });
    return { accepted: r.status !== 416, offset: (r.json as LogAck).offset };
  }

  async step(jobId: string, report: StepReport): Promise<void> {
    await this.call("POST", routes.step(jobId), report);
  }

  /** The newest matching cache, or null on a miss (404). */
  async cacheRestore(jobId: string, keys: string[]): Promise<CacheRestoreResponse | null> {
    try {
      return (await this.call("POST", routes.cacheRestore(jobId), { keys })).json as CacheRestoreResponse;
    } catch (err) {
      if (err instanceof ApiCallError && err.status === 404 && err.code === "cache_miss") return null;
      throw err;
    }
  }

  async cacheSave(jobId: string, key: string): Promise<CacheSaveResponse> {
    return (await this.call("POST", routes.cacheSave(jobId), { key })).json as CacheSaveResponse;
  }

  async cacheCommit(jobId: string, key: string, uploadId: string, size: number): Promise<boolean> {
    return (
      (await this.call("POST", routes.cacheCommit(jobId), { key, upload_id: uploadId, size })).json as {
        saved: boolean;
      }
    ).saved;
  }

  async artifact(jobId: string, path: string, size: number): Promise<BlobUrl> {
    return (await this.call("POST", routes.artifacts(jobId), { path, size })).json as BlobUrl;
  }

  async testResults(jobId: string, path: string, xml: Uint8Array): Promise<TestResultsResponse> {
    const route = `${routes.testResults(jobId)}?path=${encodeURIComponent(path)}`;
    return (await this.call("POST", route, xml, { "content-type": "application/xml" }))
      .json as TestResultsResponse;
  }

  async workspacePersist(jobId: string, size: number): Promise<BlobUrl> {
    return (await this.call("POST", routes.workspacePersist(jobId), { size })).json as BlobUrl;
  }

  async workspaceAttach(jobId: string): Promise<WorkspaceAttachResponse> {
    return (await this.call("POST", routes.workspaceAttach(jobId), {})).json as WorkspaceAttachResponse;
  }

  /**
   * Moves bytes to or from a blob URL the server issued: presigned S3 (absolute) or the server's
   * capability endpoint (relative, resolved here; the server's CA applies). No bearer token is sent.
   */
  async blob(
    blob: BlobUrl,
    init: { method: "GET" } | { method: "PUT"; body: ReadableStream<Uint8Array>; size: number },
    signal?: AbortSignal,
  ): Promise<Response> {
    const url = new URL(blob.url, this.server);
    const sameOrigin = url.origin === new URL(this.server).origin;
    const headers: Record<string, string> = { ...blob.headers };
    if (init.method === "PUT") headers["content-length"] = String(init.size);
    const res = await fetch(url, {
      method: init.method,
      headers,
      body: init.method === "PUT" ? init.body : undefined,
      duplex: "half",
      signal,
      ...(sameOrigin && this.tls.ca ? { tls: { ca: this.tls.ca, rejectUnauthorized: true } } : {}),
    } as RequestInit);
    if (!res.ok) {
      const text = (await res.text()).slice(0, 300);
      throw new ApiCallError(
        res.status,
        "blob_transfer_failed",
        `${init.method} of a blob failed: HTTP ${res.status} ${text}`,
        null,
      );
    }
    return res;
  }

  /** Whether the key with this fingerprint may enter the job over SSH; null when not. */
  async sshAuthorize(jobId: string, fingerprint: string): Promise<SshAuthorizeResponse | null> {
    try {
      return (
        await this.call("POST", routes.sshAuthorize(jobId), { fingerprint } satisfies SshAuthorizeRequest)
      ).json as SshAuthorizeResponse;
    } catch (err) {
      if (err instanceof ApiCallError && (err.status === 403 || err.status === 404)) return null;
      throw err;
    }
  }

  /**
   * Whether each open SSH connection may stay, in one call: the key's user, or null, in order.
   * Throws when the server cannot answer (the SSH server then counts the connection unconfirmed).
   */
  async sshRecheck(
    connections: { jobId: string; fingerprint: string }[],
    signal?: AbortSignal,
  ): Promise<SshRecheckResponse["users"]> {
    const body = {
      connections: connections.map((c) => ({ job_id: c.jobId, fingerprint: c.fingerprint })),
    } satisfies SshRecheckRequest;
    const r = await this.call("POST", routes.sshRecheck, body, {}, signal);
    const users = (r.json as SshRecheckResponse).users;
    if (users.length !== connections.length)
      throw new Error("ssh/recheck answered for another number of connections");
    return users;
  }

  async sshSession(jobId: string, report: SshSessionReport): Promise<void> {
    await this.call("POST", routes.sshSession(jobId), report);
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
