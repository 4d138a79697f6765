// The builder protocol's messages, each once: a zod schema and the type inferred from it. The server
// validates requests with them (server/openapi/operations.ts → validate), the OpenAPI document shows
// them, and the builder's client (builder/client.ts) is typed by them. Requests are loose objects: a
// builder of the same protocol version may send fields a newer server reads. Responses are closed.
import { z } from "zod";
import { SEALED_SECRETS_VERSION } from "./sealed-box.ts";

const text = (max: number) => z.string().min(1, "must not be empty").max(max);
const size = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const cacheKey = text(512);
const strings = z.record(z.string(), z.string());

/** What travels in the job payload, sealed by protocol/sealed-box.ts. Every field is base64 except `version`. */
export const SealedSecrets = z.object({
  version: z.literal(SEALED_SECRETS_VERSION),
  /** The builder public key this was sealed to, so a misrouted payload fails with a clear error. */
  recipient: z.string(),
  /** Public half of the one-time sender key pair; its secret half was wiped after sealing. */
  ephemeralPublicKey: z.string(),
  nonce: z.string(),
  ciphertext: z.string(),
});
export type SealedSecrets = z.infer<typeof SealedSecrets>;

/** When a step runs, by how the job is doing so far (absent: on_success). */
export const When = z.enum(["on_success", "on_fail", "always"]);
export type When = z.infer<typeof When>;

/**
 * One step of a job as the CircleCI config compiles it (server/circleci): the builder runs these.
 * (`PayloadStep` in the document, where `Step` is a job's step as the REST API shows it.)
 */
export const PayloadStep = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("checkout"),
    path: z.string().optional(),
    method: z.enum(["full", "blobless"]).optional(),
    when: When.optional(),
  }),
  z.object({
    type: z.literal("run"),
    name: z.string(),
    command: z.string(),
    shell: z.string().optional(),
    environment: strings,
    background: z.boolean(),
    workingDirectory: z.string().optional(),
    /** Seconds. */
    noOutputTimeout: z.number().optional(),
    when: When,
  }),
  z.object({
    type: z.literal("save_cache"),
    key: z.string(),
    paths: z.array(z.string()),
    name: z.string().optional(),
    when: When,
  }),
  z.object({
    type: z.literal("restore_cache"),
    keys: z.array(z.string()),
    name: z.string().optional(),
    when: When.optional(),
  }),
  z.object({
    type: z.literal("store_artifacts"),
    path: z.string(),
    destination: z.string().optional(),
    when: When.optional(),
  }),
  z.object({ type: z.literal("store_test_results"), path: z.string(), when: When.optional() }),
  z.object({
    type: z.literal("persist_to_workspace"),
    root: z.string(),
    paths: z.array(z.string()),
    when: When.optional(),
  }),
  z.object({ type: z.literal("attach_workspace"), at: z.string(), when: When.optional() }),
  z.object({ type: z.literal("add_ssh_keys"), fingerprints: z.array(z.string()), when: When.optional() }),
]);
export type Step = z.infer<typeof PayloadStep>;

export const RegisterRequest = z.looseObject({
  registration_token: text(1024),
  name: text(200),
  /** NaCl box public key (base64); the private half never leaves the fleet host. */
  public_key: text(100).describe("NaCl box public key, base64 (32 bytes)"),
  slots: z.number().int().min(1).max(256).default(1),
  driver: text(1024).default("lxc").describe("lxc or process"),
});
export type RegisterRequest = z.infer<typeof RegisterRequest>;

export const RegisterResponse = z.object({
  builder_id: z.string(),
  /** Shown once; the server keeps only its hash. */
  token: z.string(),
});
export type RegisterResponse = z.infer<typeof RegisterResponse>;

export const AcquireRequest = z.looseObject({
  free_slots: z.number().int().optional(),
  driver: z.string().optional(),
  /** `host:port` of this builder's SSH server (SSH into builds); absent when it runs none. */
  ssh_endpoint: z.string().optional().describe("host:port of the builder's SSH server"),
  /** Resource classes that fit on this builder now: only such jobs are granted. Absent: any. */
  resource_classes: z.array(z.string()).optional().describe("only jobs of these classes; absent: any"),
});
export type AcquireRequest = z.infer<typeof AcquireRequest>;

/** Owners found on a fleet host's sandboxes, other than the asking builder. */
export const GoneBuildersRequest = z.looseObject({
  builder_ids: z.array(text(100)).max(1000).describe("owners of sandboxes on the asking builder's hosts"),
});
export type GoneBuildersRequest = z.infer<typeof GoneBuildersRequest>;

/** The subset of `builder_ids` revoked on this server (an id it does not know is not gone: it may be another server's). */
export const GoneBuildersResponse = z.object({
  gone: z.array(z.string()).describe("those revoked on this server"),
});
export type GoneBuildersResponse = z.infer<typeof GoneBuildersResponse>;

/** "Re-run with SSH": after its steps the job's container stays up this long for SSH sessions. */
export const SshHold = z.object({ window_seconds: z.number() });
export type SshHold = z.infer<typeof SshHold>;

/** The project's earlier test timings (seconds) by file, classname and test name. Added in protocol 3. */
export const TestTimings = z.object({
  file: z.record(z.string(), z.number()),
  classname: z.record(z.string(), z.number()),
  testname: z.record(z.string(), z.number()),
});
export type TestTimings = z.infer<typeof TestTimings>;

const ImageRef = z.object({
  name: z.string(),
  auth: z.object({ username: z.string(), password: z.string() }).optional(),
});

/** One service container, as the config's `docker` entry wrote it (`auth` values may name `$VARS`). */
export const ServiceContainer = z.object({
  image: ImageRef,
  /** A host name the job's container resolves to it (`localhost` reaches it too). */
  name: z.string().optional(),
  /** Replaces the image's Entrypoint (and drops its Cmd, as Docker does). */
  entrypoint: z.array(z.string()).optional(),
  /** Replaces the image's Cmd: the arguments of its Entrypoint, or the program if it has none. */
  command: z.array(z.string()).optional(),
  /** `name`, `uid` or `uid:gid` in the image; the image's User when absent. */
  user: z.string().optional(),
  environment: strings.optional(),
});
export type ServiceContainer = z.infer<typeof ServiceContainer>;

/** A granted lease: everything a builder needs to run one job. 204 No Content means no work. */
export const JobPayload = z
  .object({
    lease_id: z.string(),
    /** The job's `resource_class` (default `medium`): the builder sets its container's limits from it. */
    resource_class: z.string(),
    /** Set for "re-run with SSH". */
    ssh: SshHold.optional(),
    job: z.object({ id: z.string(), name: z.string(), attempt: z.number().int() }),
    project: z.object({ id: z.string(), name: z.string() }),
    pipeline: z.object({ id: z.string(), number: z.number().int() }),
    checkout: z.object({
      repo_url: z.string(),
      sha: z.string(),
      branch: z.string().nullable(),
      tag: z.string().nullable(),
      /**
       * The project's deploy key, sealed like `secrets` but bound to the context `checkoutKeyContext(job.id)`
       * and holding one entry, `private_key` (OpenSSH). The builder writes it to a 0600 file in a 0700 temp
       * dir on the fleet host for git's ssh only, removes it after the clone, and never gives it to the container.
       */
      deploy_key: SealedSecrets.optional(),
      /** Pinned host keys (known_hosts lines): git's ssh runs with StrictHostKeyChecking=yes against them. */
      known_hosts: z.string().optional(),
    }),
    /** LXC base template chosen for this job's executor image. */
    template: z.string(),
    /**
     * The job's primary `docker` image when no CAIRN_TEMPLATES rule maps it: an LXC builder pulls it
     * (builder/images) and runs the job in it; `template` is then only the process driver's. `auth` is
     * the config's `auth:` block as written: `$NAME` in it names one of the job's variables or
     * secrets, expanded on the builder. Added in protocol 7.
     */
    image: ImageRef.optional(),
    /** The image a CAIRN_TEMPLATES rule mapped to `template`, for the job's log. Added in protocol 7. */
    image_mapped: z.string().optional(),
    /**
     * The `docker` entries after the first: service containers an LXC builder starts beside the job's
     * container, sharing its network (`localhost:PORT`). Added in protocol 8.
     */
    services: z.array(ServiceContainer).optional(),
    /**
     * The project's network mode: `none` keeps the job's container loopback-only even on a builder
     * with its egress-only NAT bridge; absent or `egress`: the builder's own setting. Added in protocol 9.
     */
    network: z.enum(["egress", "none"]).optional(),
    working_directory: z.string(),
    environment: strings,
    steps: z.array(PayloadStep),
    /**
     * The job's secrets (project env vars, then its contexts'), sealed with nacl.box to this builder's
     * public key and bound to the job id: `openSealedSecrets(secrets, boxSecretKey, job.id)`. The builder
     * passes them to the steps' environment only, never to disk or argv. Added in protocol 2.
     */
    secrets: SealedSecrets.optional(),
    /** For `cairn tests split --split-by=timings`. Added in protocol 3. */
    test_timings: TestTimings.optional(),
  })
  .describe("a job lease: steps, sealed secrets, checkout");
export type JobPayload = z.infer<typeof JobPayload>;

export const SshAuthorizeRequest = z.looseObject({
  /** `SHA256:…` of the public key the user offered. */
  fingerprint: text(100),
});
export type SshAuthorizeRequest = z.infer<typeof SshAuthorizeRequest>;

export const SshAuthorizeResponse = z.object({
  user: z.object({ id: z.string(), login: z.string() }),
});
export type SshAuthorizeResponse = z.infer<typeof SshAuthorizeResponse>;

/**
 * The builder's round of questions about its open SSH connections, all at once (protocol 10): for
 * each, whether the key may still enter the job. `ssh/authorize` stays the call for a new one.
 */
export const SshRecheckRequest = z.looseObject({
  connections: z
    .array(z.looseObject({ job_id: text(100), fingerprint: text(100) }))
    .max(1000)
    .describe("the job and key fingerprint of each open connection"),
});
export type SshRecheckRequest = z.infer<typeof SshRecheckRequest>;

/** In the request's order: the key's user while they may still enter the job, else null. */
export const SshRecheckResponse = z.object({
  users: z.array(z.object({ id: z.string(), login: z.string() }).nullable()),
});
export type SshRecheckResponse = z.infer<typeof SshRecheckResponse>;

export const SshSessionReport = z.looseObject({
  event: z.enum(["opened", "closed"]),
  user_id: text(1024),
  /** Why the builder ended a closed session: access revoked, or not confirmed in time. Protocol 10. */
  reason: z.enum(["revoked", "unconfirmed"]).optional(),
});
export type SshSessionReport = z.infer<typeof SshSessionReport>;

export const HeartbeatResponse = z.object({ action: z.enum(["continue", "cancel"]) });
export type HeartbeatResponse = z.infer<typeof HeartbeatResponse>;

/**
 * Log upload: `PATCH routes.log(jobId)` with body = raw bytes and
 * `Content-Range: bytes START-END/*` (END inclusive). A range already acknowledged is a no-op;
 * a START beyond what was acknowledged is refused with 416 and `LogAck`, so the builder resumes there.
 * When the server's log commits are behind, an upload is refused before its body is read with 503
 * `ingest_busy`, `Retry-After` and `details.retry_after_ms`: the builder sends it again after that
 * wait, buffering meanwhile (bounded memory, then disk). Since protocol 7.
 */
export const LogAck = z.object({
  /** Bytes of this job's raw log persisted so far: the next upload starts here. */
  offset: z.number().int(),
});
export type LogAck = z.infer<typeof LogAck>;

export const Ok = z.object({ ok: z.literal(true) });

export const StepReport = z.looseObject({
  index: z.number().int().min(0),
  name: z.string(),
  status: z.enum(["running", "success", "failed", "skipped", "canceled"]),
  exit_code: z.number().int().nullable().optional(),
  /** Byte offset in the raw log where this step's output starts (step boundaries are markers in the stream). */
  log_offset: z.number().int().min(0).optional(),
  /** On step 0 ("Spin up environment"): the image the job runs in, for its page. Since protocol 9. */
  image: z.object({ name: z.string().max(512), digest: z.string().max(128) }).optional(),
});
export type StepReport = z.infer<typeof StepReport>;

export const FinishReport = z.looseObject({
  /**
   * `lost`: the builder's fleet host failed under the job (an infrastructure failure, not the
   * build's): the server marks it lost and re-queues it once, as for a builder that went silent.
   */
  status: z
    .enum(["success", "failed", "canceled", "lost"])
    .describe("lost: the fleet host failed under the job; the server re-queues it once"),
  /** Why the job failed when no step did (checkout, sandbox, timeout). */
  failure_reason: z.string().nullable().optional(),
  unsandboxed: z.boolean().optional(),
  /** Raw bytes the builder sent in total: the server checks it has them all. */
  log_bytes: z.number().int().min(0).optional(),
});
export type FinishReport = z.infer<typeof FinishReport>;

/**
 * Blob transfers (caches, artifacts, workspaces; protocol 3). The server answers each call with a
 * short-lived URL for one key and one method: presigned S3, or `routes.blob(token)` on the server for
 * the filesystem store (relative: resolve it against the server's URL). The builder PUTs or GETs the
 * bytes there itself; it holds no blob-store credentials. Every call needs the job's live lease.
 */
const BlobUrlShape = {
  url: z.string().describe("presigned, or this server's /api/v1/builder/blobs/{token}"),
  /** Headers the PUT must carry (e.g. the signed Content-Type), if any. */
  headers: strings.optional(),
};
export const BlobUrl = z.object(BlobUrlShape);
export type BlobUrl = z.infer<typeof BlobUrl>;

/** `POST routes.cacheRestore`: the newest cache whose key starts with the first key that has any. 404: a miss. */
export const CacheRestoreRequest = z.looseObject({ keys: z.array(cacheKey).min(1).max(50) });
export type CacheRestoreRequest = z.infer<typeof CacheRestoreRequest>;
export const CacheRestoreResponse = z.object({ key: z.string(), size: z.number().int(), ...BlobUrlShape });
export type CacheRestoreResponse = z.infer<typeof CacheRestoreResponse>;

/** `POST routes.cacheSave`: `{exists: true}` when the key is taken (caches are immutable), else where to PUT. */
export const CacheSaveRequest = z.looseObject({ key: cacheKey });
export type CacheSaveRequest = z.infer<typeof CacheSaveRequest>;
export const CacheSaveResponse = z.union([
  z.object({ exists: z.literal(true) }),
  z.object({ exists: z.literal(false), upload_id: z.string(), ...BlobUrlShape }),
]);
export type CacheSaveResponse = z.infer<typeof CacheSaveResponse>;

/** `POST routes.cacheCommit` after the PUT: records the key (a key saved meanwhile by another job wins). */
export const CacheCommitRequest = z.looseObject({
  key: cacheKey,
  upload_id: text(1024),
  size: size.default(0),
});
export type CacheCommitRequest = z.infer<typeof CacheCommitRequest>;
export const CacheCommitResponse = z.object({ saved: z.boolean() });
export type CacheCommitResponse = z.infer<typeof CacheCommitResponse>;

/** `POST routes.artifacts`: one file; `path` is where it shows (destination + relative path). */
export const ArtifactRequest = z.looseObject({ path: text(2048), size: size.default(0) });
export type ArtifactRequest = z.infer<typeof ArtifactRequest>;

/** `POST routes.testResults?path=FILE` with the JUnit XML as the body; the server parses it. */
export const TestResultsQuery = z.object({
  path: z.string().optional().describe("the report's path, for errors"),
});
export const TestResultsResponse = z.object({ tests: z.number().int(), failures: z.number().int() });
export type TestResultsResponse = z.infer<typeof TestResultsResponse>;

/** `POST routes.workspacePersist`: one tar.gz layer per persist_to_workspace step. */
export const WorkspacePersistRequest = z.looseObject({ size: size.default(0) });
export type WorkspacePersistRequest = z.infer<typeof WorkspacePersistRequest>;

/** `POST routes.workspaceAttach`: the layers of the jobs this one requires (transitively), oldest first. */
export const WorkspaceAttachResponse = z.object({
  layers: z.array(z.object({ job: z.string(), size: z.number().int(), ...BlobUrlShape })),
});
export type WorkspaceAttachResponse = z.infer<typeof WorkspaceAttachResponse>;

/** `PUT routes.blob(token)` stored this many bytes. */
export const BlobStored = z.object({ size: z.number().int() });
