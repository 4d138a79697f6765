/**
 * The builder ⇄ server protocol: the one module both sides import. The server implements it in
 * server/routes/builder-api.ts (validating requests with ./schemas.ts through server/openapi); the
 * builder's client is builder/client.ts. Neither `builder/` nor `ui/` imports anything from `server/`
 * (protocol/boundaries.test.ts). Bump PROTOCOL_VERSION on every change to a shape or route here;
 * the server refuses builders that speak another version.
 *
 * Every call is HTTPS (or loopback HTTP) with `Authorization: Bearer <builder token>`, except
 * `register`, which presents a one-time registration token in its body.
 */

export type {
  AcquireRequest,
  ArtifactRequest,
  BlobUrl,
  CacheCommitRequest,
  CacheCommitResponse,
  CacheRestoreRequest,
  CacheRestoreResponse,
  CacheSaveRequest,
  CacheSaveResponse,
  FinishReport,
  GoneBuildersRequest,
  GoneBuildersResponse,
  HeartbeatResponse,
  JobPayload,
  LogAck,
  RegisterRequest,
  RegisterResponse,
  SealedSecrets,
  ServiceContainer,
  SshAuthorizeRequest,
  SshAuthorizeResponse,
  SshHold,
  SshRecheckRequest,
  SshRecheckResponse,
  SshSessionReport,
  Step,
  StepReport,
  TestResultsResponse,
  TestTimings,
  When,
  WorkspaceAttachResponse,
  WorkspacePersistRequest,
} from "./schemas.ts";
/**
 * What the builder needs to open a job's secrets: its own box secret key and the job id as context.
 * It seals its own registry credentials the same way (`cairn-builder registry-login`).
 */
export { openSealedSecrets, sealForBuilder } from "./sealed-box.ts";

export const PROTOCOL_VERSION = 10;

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
  /** Every open SSH connection of the builder asked about again in one call. Protocol 10. */
  sshRecheck: "/api/v1/builder/ssh/recheck",
  /** Capability URL of the filesystem blob store (no bearer token, no protocol header): one key, one method. */
  blob: (token: string) => `/api/v1/builder/blobs/${token}`,
} as const;

/** How long `acquire` holds a request open when there is no work (ms). */
export const ACQUIRE_WAIT_MS = 20_000;
/** Builders heartbeat every HEARTBEAT_INTERVAL_MS; a lease expires LEASE_TTL_MS after the last one. */
export const HEARTBEAT_INTERVAL_MS = 3_000;
export const LEASE_TTL_MS = 15_000;

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
