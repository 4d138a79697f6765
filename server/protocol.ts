/**
 * The builder ⇄ server protocol: the one module both sides import. The server implements it in
 * server/routes/builder-api.ts; the builder's client is builder/client.ts. `builder/` imports
 * nothing else from `server/`. Bump PROTOCOL_VERSION on every change to a shape or route here;
 * the server refuses builders that speak another version.
 *
 * Every call is HTTPS (or loopback HTTP) with `Authorization: Bearer <builder token>`, except
 * `register`, which presents a one-time registration token in its body.
 */
import type { Step } from "./circleci/types.ts";
import type { SealedSecrets } from "./secrets/box.ts";

/**
 * What the builder needs to open a job's secrets: its own box secret key and the job id as context.
 * It seals its own registry credentials the same way (`cairn-builder registry-login`).
 */
export { openSealedSecrets, type SealedSecrets, sealForBuilder } from "./secrets/box.ts";
export type { Step };

export const PROTOCOL_VERSION = 8;

/** The context a job's sealed deploy key is bound to: it cannot be swapped into `secrets`, or another job. */
export const checkoutKeyContext = (jobId: string) => `checkout:${jobId}`;
export const PROTOCOL_HEADER = "Cairn-Protocol";

export const routes = {
  register: "/api/v1/builder/register",
  acquire: "/api/v1/builder/acquire",
  /** Which builders are gone (revoked): their sandboxes on a shared host may be reaped. Protocol 7. */
  goneBuilders: "/api/v1/builder/builders/gone",
  heartbeat: (jobId: string) => `/api/v1/builder/jobs/${jobId}/heartbeat`,
  log: (jobId: string) => `/api/v1/builder/jobs/${jobId}/log`,
  step: (jobId: string) => `/api/v1/builder/jobs/${jobId}/steps`,
  finish: (jobId: string) => `/api/v1/builder/jobs/${jobId}/finish`,
  cacheRestore: (jobId: string) => `/api/v1/builder/jobs/${jobId}/caches/restore`,
  cacheSave: (jobId: string) => `/api/v1/builder/jobs/${jobId}/caches/save`,
  cacheCommit: (jobId: string) => `/api/v1/builder/jobs/${jobId}/caches/commit`,
  artifacts: (jobId: string) => `/api/v1/builder/jobs/${jobId}/artifacts`,
  testResults: (jobId: string) => `/api/v1/builder/jobs/${jobId}/test-results`,
  workspacePersist: (jobId: string) => `/api/v1/builder/jobs/${jobId}/workspace/persist`,
  workspaceAttach: (jobId: string) => `/api/v1/builder/jobs/${jobId}/workspace/attach`,
  sshAuthorize: (jobId: string) => `/api/v1/builder/jobs/${jobId}/ssh/authorize`,
  sshSession: (jobId: string) => `/api/v1/builder/jobs/${jobId}/ssh/sessions`,
  /** Capability URL of the filesystem blob store (no bearer token, no protocol header): one key, one method. */
  blob: (token: string) => `/api/v1/builder/blobs/${token}`,
} as const;

/** How long `acquire` holds a request open when there is no work (ms). */
export const ACQUIRE_WAIT_MS = 20_000;
/** Builders heartbeat every HEARTBEAT_INTERVAL_MS; a lease expires LEASE_TTL_MS after the last one. */
export const HEARTBEAT_INTERVAL_MS = 3_000;
export const LEASE_TTL_MS = 15_000;

export interface RegisterRequest {
  registration_token: string;
  name: string;
  /** NaCl box public key (base64); the private half never leaves the fleet host. */
  public_key: string;
  slots: number;
  driver: "lxc" | "process";
}

export interface RegisterResponse {
  builder_id: string;
  /** Shown once; the server keeps only its hash. */
  token: string;
}

export interface AcquireRequest {
  free_slots: number;
  driver: "lxc" | "process";
  /** `host:port` of this builder's SSH server (SSH into builds); absent when it runs none. */
  ssh_endpoint?: string;
  /** Resource classes that fit on this builder now: only such jobs are granted. Absent: any. */
  resource_classes?: string[];
}

/** Owners found on a fleet host's sandboxes, other than the asking builder. */
export interface GoneBuildersRequest {
  builder_ids: string[];
}

/** The subset of `builder_ids` revoked on this server (an id it does not know is not gone: it may be another server's). */
export interface GoneBuildersResponse {
  gone: string[];
}

/** "Re-run with SSH": after its steps the job's container stays up this long for SSH sessions. */
export interface SshHold {
  window_seconds: number;
}

export interface SshAuthorizeRequest {
  /** `SHA256:…` of the public key the user offered. */
  fingerprint: string;
}

export interface SshAuthorizeResponse {
  user: { id: string; login: string };
}

export interface SshSessionReport {
  event: "opened" | "closed";
  user_id: string;
}

/** A granted lease: everything a builder needs to run one job. 204 No Content means no work. */
export interface JobPayload {
  lease_id: string;
  /** The job's `resource_class` (default `medium`): the builder sets its container's limits from it. */
  resource_class: string;
  /** Set for "re-run with SSH". */
  ssh?: SshHold;
  job: { id: string; name: string; attempt: number };
  project: { id: string; name: string };
  pipeline: { id: string; number: number };
  checkout: {
    repo_url: string;
    sha: string;
    branch: string | null;
    tag: string | null;
    /**
     * The project's deploy key, sealed like `secrets` but bound to the context `checkoutKeyContext(job.id)`
     * and holding one entry, `private_key` (OpenSSH). The builder writes it to a 0600 file in a 0700 temp
     * dir on the fleet host for git's ssh only, removes it after the clone, and never gives it to the container.
     */
    deploy_key?: SealedSecrets;
    /** Pinned host keys (known_hosts lines): git's ssh runs with StrictHostKeyChecking=yes against them. */
    known_hosts?: string;
  };
  /** LXC base template chosen for this job's executor image. */
  template: string;
  /**
   * The job's primary `docker` image when no CAIRN_TEMPLATES rule maps it: an LXC builder pulls it
   * (builder/images) and runs the job in it; `template` is then only the process driver's. `auth` is
   * the config's `auth:` block as written: `$NAME` in it names one of the job's variables or
   * secrets, expanded on the builder. Added in protocol 7.
   */
  image?: { name: string; auth?: { username: string; password: string } };
  /** The image a CAIRN_TEMPLATES rule mapped to `template`, for the job's log. Added in protocol 7. */
  image_mapped?: string;
  /**
   * The `docker` entries after the first: service containers an LXC builder starts beside the job's
   * container, sharing its network (`localhost:PORT`). Added in protocol 8.
   */
  services?: ServiceContainer[];
  working_directory: string;
  environment: Record<string, string>;
  steps: Step[];
  /**
   * The job's secrets (project env vars, then its contexts'), sealed with nacl.box to this builder's
   * public key and bound to the job id: `openSealedSecrets(secrets, boxSecretKey, job.id)`. The builder
   * passes them to the steps' environment only, never to disk or argv. Added in protocol 2.
   */
  secrets?: SealedSecrets;
  /**
   * The project's earlier test timings (seconds) from `store_test_results`, for
   * `cairn tests split --split-by=timings`: by file, by classname and by test name. Added in protocol 3.
   */
  test_timings?: TestTimings;
}

/** One service container, as the config's `docker` entry wrote it (`auth` values may name `$VARS`). */
export interface ServiceContainer {
  image: { name: string; auth?: { username: string; password: string } };
  /** A host name the job's container resolves to it (`localhost` reaches it too). */
  name?: string;
  /** Replaces the image's Entrypoint (and drops its Cmd, as Docker does). */
  entrypoint?: string[];
  /** Replaces the image's Cmd: the arguments of its Entrypoint, or the program if it has none. */
  command?: string[];
  /** `name`, `uid` or `uid:gid` in the image; the image's User when absent. */
  user?: string;
  environment?: Record<string, string>;
}

export interface TestTimings {
  file: Record<string, number>;
  classname: Record<string, number>;
  testname: Record<string, number>;
}

/**
 * Blob transfers (caches, artifacts, workspaces; protocol 3). The server answers each call with a
 * short-lived URL for one key and one method: presigned S3, or `routes.blob(token)` on the server for
 * the filesystem store (relative: resolve it against the server's URL). The builder PUTs or GETs the
 * bytes there itself; it holds no blob-store credentials. Every call needs the job's live lease.
 */
export interface BlobUrl {
  url: string;
  /** Headers the PUT must carry (e.g. the signed Content-Type), if any. */
  headers?: Record<string, string>;
}

/** `POST routes.cacheRestore`: the newest cache whose key starts with the first key that has any. 404: a miss. */
export interface CacheRestoreRequest {
  keys: string[];
}
export interface CacheRestoreResponse extends BlobUrl {
  key: string;
  size: number;
}

/** `POST routes.cacheSave`: `{exists: true}` when the key is taken (caches are immutable), else where to PUT. */
export interface CacheSaveRequest {
  key: string;
}
export type CacheSaveResponse = { exists: true } | ({ exists: false; upload_id: string } & BlobUrl);

/** `POST routes.cacheCommit` after the PUT: records the key (a key saved meanwhile by another job wins). */
export interface CacheCommitRequest {
  key: string;
  upload_id: string;
  size: number;
}
export interface CacheCommitResponse {
  saved: boolean;
}

/** `POST routes.artifacts`: one file; `path` is where it shows (destination + relative path). */
export interface ArtifactRequest {
  path: string;
  size: number;
}

/** `POST routes.testResults?path=FILE` with the JUnit XML as the body; the server parses it. */
export interface TestResultsResponse {
  tests: number;
  failures: number;
}

/** `POST routes.workspacePersist`: one tar.gz layer per persist_to_workspace step. */
export interface WorkspacePersistRequest {
  size: number;
}

/** `POST routes.workspaceAttach`: the layers of the jobs this one requires (transitively), oldest first. */
export interface WorkspaceAttachResponse {
  layers: ({ job: string; size: number } & BlobUrl)[];
}

export interface HeartbeatResponse {
  action: "continue" | "cancel";
}

/**
 * Log upload: `PATCH routes.log(jobId)` with body = raw bytes and
 * `Content-Range: bytes START-END/*` (END inclusive). A range already acknowledged is a no-op;
 * a START beyond what was acknowledged is refused with 416 and `LogAck`, so the builder resumes there.
 * When the server's log commits are behind, an upload is refused before its body is read with 503
 * `ingest_busy`, `Retry-After` and `details.retry_after_ms`: the builder sends it again after that
 * wait, buffering meanwhile (bounded memory, then disk). Since protocol 7.
 */
export interface LogAck {
  /** Bytes of this job's raw log persisted so far: the next upload starts here. */
  offset: number;
}

export interface StepReport {
  index: number;
  name: string;
  status: "running" | "success" | "failed" | "skipped" | "canceled";
  exit_code?: number;
  /** Byte offset in the raw log where this step's output starts (step boundaries are markers in the stream). */
  log_offset: number;
}

export interface FinishReport {
  /**
   * `lost`: the builder's fleet host failed under the job (an infrastructure failure, not the
   * build's): the server marks it lost and re-queues it once, as for a builder that went silent.
   */
  status: "success" | "failed" | "canceled" | "lost";
  /** Why the job failed when no step did (checkout, sandbox, timeout). */
  failure_reason?: string;
  unsandboxed: boolean;
  /** Raw bytes the builder sent in total: the server checks it has them all. */
  log_bytes: number;
}

export function contentRange(start: number, length: number): string {
  return `bytes ${start}-${start + length - 1}/*`;
}

export function parseContentRange(header: string | undefined | null): { start: number; end: number } | null {
  const m = /^bytes (\d+)-(\d+)\/(?:\*|\d+)$/.exec(header ?? "");
  if (!m) return null;
  const start = Number(m[1]);
  const end = Number(m[2]);
  return end >= start ? { start, end } : null;
}
