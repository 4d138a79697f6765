// The builder protocol's bodies (server/protocol.ts holds the TypeScript shapes both sides share;
// these check them on the server and describe them in the document). Requests are loose objects:
// a builder of the same protocol version may send fields a newer server reads.
import { z } from "zod";
import type * as P from "../../protocol.ts";
import { anyObject } from "./common.ts";

const text = (max: number) => z.string().min(1, "must not be empty").max(max);
const size = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const cacheKey = text(512);

export const RegisterRequest = z.looseObject({
  registration_token: text(1024),
  name: text(200),
  public_key: text(100).describe("NaCl box public key, base64 (32 bytes)"),
  slots: z.number().int().min(1).max(256).default(1),
  driver: text(1024).default("lxc").describe("lxc or process"),
});
export const RegisterResponse = z.object({
  builder_id: z.string(),
  token: z.string(),
}) satisfies z.ZodType<P.RegisterResponse>;

export const AcquireRequest = z.looseObject({
  free_slots: z.number().int().optional(),
  driver: z.string().optional(),
  ssh_endpoint: z.string().optional().describe("host:port of the builder's SSH server"),
  resource_classes: z.array(z.string()).optional().describe("only jobs of these classes; absent: any"),
});
export const GoneBuildersRequest = z.looseObject({
  builder_ids: z.array(text(100)).max(1000).describe("owners of sandboxes on the asking builder's hosts"),
});
export const GoneBuildersResponse = z.object({
  gone: z.array(z.string()).describe("those revoked on this server"),
}) satisfies z.ZodType<P.GoneBuildersResponse>;

export const JobPayload = z
  .looseObject({
    lease_id: z.string(),
    resource_class: z.string(),
    job: z.object({ id: z.string(), name: z.string(), attempt: z.number().int() }),
    project: z.object({ id: z.string(), name: z.string() }),
    pipeline: z.object({ id: z.string(), number: z.number().int() }),
    checkout: z.looseObject({ repo_url: z.string(), sha: z.string() }),
    template: z.string(),
    working_directory: z.string(),
    environment: z.record(z.string(), z.string()),
    steps: z.array(anyObject),
    services: z
      .array(z.looseObject({ image: z.looseObject({ name: z.string() }) }))
      .optional()
      .describe("service containers: the config's docker entries after the first (protocol 8)"),
  })
  .describe("a job lease: steps, sealed secrets, checkout (server/protocol.ts JobPayload)");

export const SshAuthorizeRequest = z.looseObject({ fingerprint: text(100) });
export const SshAuthorizeResponse = z.object({
  user: z.object({ id: z.string(), login: z.string() }),
}) satisfies z.ZodType<P.SshAuthorizeResponse>;
export const SshSessionReport = z.looseObject({
  event: z.enum(["opened", "closed"]),
  user_id: text(1024),
});

export const HeartbeatResponse = z.object({
  action: z.enum(["continue", "cancel"]),
}) satisfies z.ZodType<P.HeartbeatResponse>;
export const LogAck = z.object({ offset: z.number().int() }) satisfies z.ZodType<P.LogAck>;
export const Ok = z.object({ ok: z.literal(true) });

export const StepReport = z.looseObject({
  index: z.number().int().min(0),
  name: z.string(),
  status: z.enum(["running", "success", "failed", "skipped", "canceled"]),
  exit_code: z.number().int().nullable().optional(),
  log_offset: z.number().int().min(0).optional(),
});
export const FinishReport = z.looseObject({
  status: z
    .enum(["success", "failed", "canceled", "lost"])
    .describe("lost: the fleet host failed under the job; the server re-queues it once"),
  failure_reason: z.string().nullable().optional(),
  unsandboxed: z.boolean().optional(),
  log_bytes: z.number().int().min(0).optional(),
});

const BlobUrlShape = {
  url: z.string().describe("presigned, or this server's /api/v1/builder/blobs/{token}"),
  headers: z.record(z.string(), z.string()).optional(),
};
export const BlobUrl = z.object(BlobUrlShape) satisfies z.ZodType<P.BlobUrl>;

export const CacheRestoreRequest = z.looseObject({ keys: z.array(cacheKey).min(1).max(50) });
export const CacheRestoreResponse = z.object({
  key: z.string(),
  size: z.number().int(),
  ...BlobUrlShape,
}) satisfies z.ZodType<P.CacheRestoreResponse>;
export const CacheSaveRequest = z.looseObject({ key: cacheKey });
export const CacheSaveResponse = z.union([
  z.object({ exists: z.literal(true) }),
  z.object({ exists: z.literal(false), upload_id: z.string(), ...BlobUrlShape }),
]) satisfies z.ZodType<P.CacheSaveResponse>;
export const CacheCommitRequest = z.looseObject({
  key: cacheKey,
  upload_id: text(1024),
  size: size.default(0),
});
export const CacheCommitResponse = z.object({
  saved: z.boolean(),
}) satisfies z.ZodType<P.CacheCommitResponse>;

export const ArtifactRequest = z.looseObject({ path: text(2048), size: size.default(0) });
export const TestResultsQuery = z.object({
  path: z.string().optional().describe("the report's path, for errors"),
});
export const TestResultsResponse = z.object({
  tests: z.number().int(),
  failures: z.number().int(),
}) satisfies z.ZodType<P.TestResultsResponse>;
export const WorkspacePersistRequest = z.looseObject({ size: size.default(0) });
export const WorkspaceAttachResponse = z.object({
  layers: z.array(z.object({ job: z.string(), size: z.number().int(), ...BlobUrlShape })),
}) satisfies z.ZodType<P.WorkspaceAttachResponse>;
export const BlobStored = z.object({ size: z.number().int() });
