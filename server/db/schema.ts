// Cairn's state in libSQL. One const per table, camelCase keys over snake_case columns.
// Times are milliseconds since the epoch (integers), ids are random UUIDs.
import { type Column, sql } from "drizzle-orm";
import { customType, index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { JOB_STATUSES, type JobStatus } from "../job-status.ts";

const now = sql`(cast(unixepoch('subsec') * 1000 as integer))`;

const asStored = (envelope: string) => envelope;
/**
 * A value sealed under the master key (server/secrets/envelope.ts), stored as text. Every such column
 * has its entry in db/sealed-columns.ts, which its writers and `rotate-key` read; a test checks both ways.
 */
const sealed = customType<{ data: string; driverData: string }>({
  dataType: () => "text",
  toDriver: asStored,
});
export const isSealedColumn = (column: Column): boolean =>
  (column as unknown as { mapTo?: unknown }).mapTo === asStored;

export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    login: text("login").notNull(),
    role: text("role", { enum: ["admin", "member"] })
      .notNull()
      .default("member"),
    createdAt: integer("created_at").notNull().default(now),
    /** argon2id PHC string (services/passwords.ts); null: no password sign-in. */
    passwordHash: text("password_hash"),
    /** The GitHub (or GHE) login this user signs in as through OAuth (routes/auth-github.ts). */
    githubLogin: text("github_login"),
  },
  (t) => [uniqueIndex("users_login").on(t.login), uniqueIndex("users_github_login").on(t.githubLogin)],
);

/** Personal API tokens: only the hash is stored; the token is shown once. */
export const apiTokens = sqliteTable(
  "api_tokens",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id),
    name: text("name").notNull(),
    tokenHash: text("token_hash").notNull(),
    scopes: text("scopes").notNull().default("admin"),
    createdAt: integer("created_at").notNull().default(now),
    expiresAt: integer("expires_at"),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("api_tokens_hash").on(t.tokenHash)],
);

/** Browser sessions (the web UI): only the hash of the cookie's random id is stored; 12 h each. */
export const sessions = sqliteTable(
  "sessions",
  {
    idHash: text("id_hash").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id),
    createdAt: integer("created_at").notNull().default(now),
    expiresAt: integer("expires_at").notNull(),
    /** Signed in with an API token: that token's scopes (a read token never makes a writing session). */
    scopes: text("scopes").notNull().default("admin"),
    /** The API token the session was made from (null: password or GitHub): revoking it ends the session. */
    tokenId: text("token_id"),
  },
  (t) => [index("sessions_user").on(t.userId), index("sessions_token").on(t.tokenId)],
);

export const projects = sqliteTable(
  "projects",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    repoUrl: text("repo_url").notNull(),
    defaultBranch: text("default_branch").notNull().default("main"),
    followed: integer("followed", { mode: "boolean" }).notNull().default(true),
    nextPipelineNumber: integer("next_pipeline_number").notNull().default(1),
    /** At most this many of the project's jobs run at once (null: no limit). */
    maxConcurrentJobs: integer("max_concurrent_jobs"),
    createdAt: integer("created_at").notNull().default(now),
    /** Branches webhooks build (JSON array of globs or /regex/); empty means every branch. */
    branchFilters: text("branch_filters").notNull().default("[]"),
    /** HMAC key of the project's webhooks, sealed (its context: db/sealed-columns.ts, as for every sealed column). */
    webhookSecret: sealed("webhook_secret"),
    /** The forge commit statuses and deploy keys go to (JSON {kind, api_url, repo}); null: none. */
    forge: text("forge"),
    /** The forge API token, sealed. */
    forgeToken: sealed("forge_token"),
    /** Pinned SSH host keys (known_hosts lines) for checkouts over SSH. */
    knownHosts: text("known_hosts"),
    /** The deploy key: OpenSSH public line, SHA256 fingerprint, private half sealed. */
    deployKeyPublic: text("deploy_key_public"),
    deployKeyFingerprint: text("deploy_key_fingerprint"),
    deployKeyPrivate: sealed("deploy_key_private"),
    /** The key's id at the forge when it was added there (to remove it again). */
    deployKeyForgeId: text("deploy_key_forge_id"),
    /** CircleCI's "Pass secrets to builds from forked pull requests": off, a fork's code gets none. */
    passSecretsToForks: integer("pass_secrets_to_forks", { mode: "boolean" }).notNull().default(false),
    /** `egress`: jobs get the builder's egress-only NAT network (if it has one); `none`: loopback only. */
    network: text("network", { enum: ["egress", "none"] })
      .notNull()
      .default("egress"),
  },
  (t) => [uniqueIndex("projects_name").on(t.name)],
);

/** Webhook deliveries seen per project: a replayed delivery id creates nothing. */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id),
    deliveryId: text("delivery_id").notNull(),
    event: text("event").notNull(),
    pipelineId: text("pipeline_id"),
    receivedAt: integer("received_at").notNull().default(now),
  },
  (t) => [uniqueIndex("webhook_deliveries_project_delivery").on(t.projectId, t.deliveryId)],
);

/** `Idempotency-Key` of pipeline-creating API calls: the same key within 24 h answers the first pipeline. */
export const pipelineRequests = sqliteTable(
  "pipeline_requests",
  {
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id),
    key: text("key").notNull(),
    pipelineId: text("pipeline_id").notNull(),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("pipeline_requests_project_key").on(t.projectId, t.key)],
);

export const pipelines = sqliteTable(
  "pipelines",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id),
    number: integer("number").notNull(),
    branch: text("branch"),
    tag: text("tag"),
    sha: text("sha").notNull(),
    trigger: text("trigger").notNull().default("api"),
    /** What triggered it, as JSON (webhook delivery, pull request number and refs); null for the API. */
    metadata: text("metadata"),
    /**
     * Answered before its setup: `created` (waiting for the setup queue) → `fetching` (the mirror,
     * the ref) → `planning` (the config) → `queued` with its workflows, or `error`. Until `queued`,
     * `sha` and `config_path` are empty. `error`: the pipeline could not be planned;
     * `configErrors` says why and nothing runs.
     */
    status: text("status", {
      enum: [
        "created",
        "fetching",
        "planning",
        "queued",
        "running",
        "success",
        "failed",
        "canceled",
        "error",
      ],
    })
      .notNull()
      .default("queued"),
    configPath: text("config_path").notNull(),
    /** Every problem of an `error` pipeline's config: JSON [{file, line, col, message}]. */
    configErrors: text("config_errors"),
    /** The trigger's pipeline parameters, JSON; kept so a setup cut short by a restart resumes. */
    parameters: text("parameters"),
    /** Published orbs the config declared, as resolved at trigger time: JSON {alias: "ns/name@X.Y.Z"}. */
    orbs: text("orbs"),
    /** Built from a fork's pull request: its jobs get no secrets, contexts or deploy key unless the project passes them. */
    fromFork: integer("from_fork", { mode: "boolean" }).notNull().default(false),
    createdAt: integer("created_at").notNull().default(now),
    finishedAt: integer("finished_at"),
  },
  (t) => [uniqueIndex("pipelines_project_number").on(t.projectId, t.number)],
);

export const workflows = sqliteTable(
  "workflows",
  {
    id: text("id").primaryKey(),
    pipelineId: text("pipeline_id")
      .notNull()
      .references(() => pipelines.id),
    name: text("name").notNull(),
    status: text("status", { enum: ["queued", "running", "success", "failed", "canceled"] })
      .notNull()
      .default("queued"),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [index("workflows_pipeline").on(t.pipelineId)],
);

export { JOB_STATUSES, type JobStatus };

export const jobs = sqliteTable(
  "jobs",
  {
    id: text("id").primaryKey(),
    pipelineId: text("pipeline_id")
      .notNull()
      .references(() => pipelines.id),
    workflowId: text("workflow_id")
      .notNull()
      .references(() => workflows.id),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id),
    name: text("name").notNull(),
    /** A queued job is leased once every job it requires has succeeded. */
    status: text("status", { enum: JOB_STATUSES }).notNull().default("queued"),
    /** The job's JobSpec (server/circleci/types.ts) as JSON. */
    spec: text("spec").notNull(),
    /** Names of jobs in the same workflow that must succeed first (JSON array). */
    requires: text("requires").notNull().default("[]"),
    template: text("template").notNull(),
    builderId: text("builder_id"),
    leaseId: text("lease_id"),
    leaseExpiresAt: integer("lease_expires_at"),
    attempt: integer("attempt").notNull().default(1),
    /** A lost job is re-queued once as a new row: the lost row points at its retry. */
    supersededBy: text("superseded_by"),
    /** Builder that lost this job's previous attempt: the retry goes to another builder when one exists. */
    avoidBuilderId: text("avoid_builder_id"),
    /** `parallelism: N` makes N rows, one per slice, each in its own container. */
    /** "Re-run with SSH": the container stays up after the steps for SSH sessions until this time. */
    sshEnabled: integer("ssh_enabled", { mode: "boolean" }).notNull().default(false),
    sshUntil: integer("ssh_until"),
    sliceIndex: integer("slice_index").notNull().default(0),
    sliceTotal: integer("slice_total").notNull().default(1),
    /** Set when the builder ran the job without a sandbox (process driver). */
    unsandboxed: integer("unsandboxed", { mode: "boolean" }),
    /** A fork's job, as granted: its project's secrets `withheld` or `passed` (by project setting); null: no fork. */
    forkSecrets: text("fork_secrets", { enum: ["withheld", "passed"] }),
    /** The image the job ran in (its name and manifest digest), as the builder's spin-up reported it. */
    imageName: text("image_name"),
    imageDigest: text("image_digest"),
    /** Raw log bytes acknowledged (persisted) so far. */
    logBytes: integer("log_bytes").notNull().default(0),
    /** Log lines persisted so far. */
    logLines: integer("log_lines").notNull().default(0),
    /** Raw offset and line count where the current log segment (a step) began: crash recovery replays from here. */
    logSegmentOffset: integer("log_segment_offset").notNull().default(0),
    logSegmentLines: integer("log_segment_lines").notNull().default(0),
    /** Set once the log was compacted into one blob-store object and its rows removed. */
    logArchivedAt: integer("log_archived_at"),
    failureReason: text("failure_reason"),
    createdAt: integer("created_at").notNull().default(now),
    startedAt: integer("started_at"),
    finishedAt: integer("finished_at"),
  },
  (t) => [
    index("jobs_status").on(t.status, t.createdAt),
    index("jobs_pipeline").on(t.pipelineId),
    // Insights read a project's finished jobs over a time window.
    index("jobs_project_finished").on(t.projectId, t.finishedAt),
  ],
);

/**
 * Continuation keys of a setup pipeline (`setup: true`): one per setup job run, only its hash kept.
 * The first key used continues the pipeline and marks every key of it used (`usedAt`).
 */
export const continuationKeys = sqliteTable(
  "continuation_keys",
  {
    keyHash: text("key_hash").primaryKey(),
    pipelineId: text("pipeline_id")
      .notNull()
      .references(() => pipelines.id),
    jobId: text("job_id")
      .notNull()
      .references(() => jobs.id),
    createdAt: integer("created_at").notNull().default(now),
    usedAt: integer("used_at"),
  },
  (t) => [index("continuation_keys_pipeline").on(t.pipelineId)],
);

export const steps = sqliteTable(
  "steps",
  {
    jobId: text("job_id")
      .notNull()
      .references(() => jobs.id),
    index: integer("idx").notNull(),
    name: text("name").notNull(),
    status: text("status", { enum: ["running", "success", "failed", "skipped", "canceled"] }).notNull(),
    exitCode: integer("exit_code"),
    firstLine: integer("first_line"),
    startedAt: integer("started_at"),
    finishedAt: integer("finished_at"),
  },
  (t) => [uniqueIndex("steps_job_idx").on(t.jobId, t.index)],
);

/** Processed log lines in bounded chunks, until the log is archived to the blob store. */
export const logChunks = sqliteTable(
  "log_chunks",
  {
    jobId: text("job_id")
      .notNull()
      .references(() => jobs.id),
    firstLine: integer("first_line").notNull(),
    lastLine: integer("last_line").notNull(),
    /** LogLine[] as JSON. */
    body: text("body").notNull(),
  },
  (t) => [uniqueIndex("log_chunks_job_first").on(t.jobId, t.firstLine)],
);

/**
 * Raw bytes of the current segment, sealed under the master key (they are unmasked), kept only so a
 * restarted server can rebuild the log pipeline's state; deleted when the segment ends. Usually one
 * row, replaced on every write: a resume point (`firstLine` set) holding the escape sequences that
 * restore the style there and the raw bytes since the last line ended (server/logs/resume-point.ts).
 * Rows without `firstLine` are raw bytes appended after it (or after the segment start, when none).
 */
export const logRaw = sqliteTable(
  "log_raw",
  {
    jobId: text("job_id")
      .notNull()
      .references(() => jobs.id),
    offset: integer("offset").notNull(),
    /** Set on a resume point: the number of the first line its replay emits. */
    firstLine: integer("first_line"),
    envelope: sealed("envelope").notNull(),
  },
  (t) => [uniqueIndex("log_raw_job_offset").on(t.jobId, t.offset)],
);

export const builders = sqliteTable(
  "builders",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    tokenHash: text("token_hash").notNull(),
    /** NaCl box public key (base64): job secrets are sealed to it. */
    publicKey: text("public_key").notNull(),
    slots: integer("slots").notNull().default(1),
    /** `host:port` of the builder's SSH server for SSH into builds (null: it runs none). */
    sshEndpoint: text("ssh_endpoint"),
    driver: text("driver"),
    lastSeenAt: integer("last_seen_at"),
    revokedAt: integer("revoked_at"),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("builders_token_hash").on(t.tokenHash)],
);

export const registrationTokens = sqliteTable("registration_tokens", {
  id: text("id").primaryKey(),
  tokenHash: text("token_hash").notNull().unique(),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull().default(now),
  expiresAt: integer("expires_at").notNull(),
  usedAt: integer("used_at"),
});

/**
 * State changes (pipeline/job created, started, finished) for live builds lists. Stored, so every
 * server process on the database serves them and a client resumes from its last id.
 */
export const events = sqliteTable(
  "events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull().default(now),
    type: text("type").notNull(),
    projectId: text("project_id").notNull(),
    /** The event's JSON body. */
    body: text("body").notNull(),
  },
  (t) => [index("events_project").on(t.projectId, t.id)],
);

/**
 * A project's environment variables: values sealed under the master key, bound to their row
 * (db/sealed-columns.ts); listings show only `hint`.
 */
export const projectEnvVars = sqliteTable(
  "project_env_vars",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id),
    name: text("name").notNull(),
    envelope: sealed("envelope").notNull(),
    hint: text("hint").notNull(),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [uniqueIndex("project_env_vars_project_name").on(t.projectId, t.name)],
);

/** Contexts: named groups of secrets shared by projects, selected by a workflow job's `context:`. */
export const contexts = sqliteTable(
  "contexts",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("contexts_name").on(t.name)],
);

/**
 * Who may use a context (CircleCI's restrictions): `project` rows name the only projects whose jobs
 * may (none: any project); every `expression` row (e.g. `pipeline.git.branch == "main"`) must hold
 * for the job's pipeline. Checked before a job is given the context's secrets (services/context-restrictions.ts).
 */
export const contextRestrictions = sqliteTable(
  "context_restrictions",
  {
    id: text("id").primaryKey(),
    contextId: text("context_id")
      .notNull()
      .references(() => contexts.id),
    restrictionType: text("restriction_type", { enum: ["project", "expression"] }).notNull(),
    restrictionValue: text("restriction_value").notNull(),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("context_restrictions_unique").on(t.contextId, t.restrictionType, t.restrictionValue)],
);

/** A context's environment variables, sealed like a project's. */
export const contextEnvVars = sqliteTable(
  "context_env_vars",
  {
    id: text("id").primaryKey(),
    contextId: text("context_id")
      .notNull()
      .references(() => contexts.id),
    name: text("name").notNull(),
    envelope: sealed("envelope").notNull(),
    hint: text("hint").notNull(),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [uniqueIndex("context_env_vars_context_name").on(t.contextId, t.name)],
);

export const AUDIT_ACTOR_TYPES = ["user", "builder", "system"] as const;

/** Security events, append-only (triggers refuse UPDATE and DELETE). `id` orders them and is the cursor. */
export const auditEvents = sqliteTable(
  "audit_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull().default(now),
    actorType: text("actor_type", { enum: AUDIT_ACTOR_TYPES }).notNull(),
    actorId: text("actor_id"),
    action: text("action").notNull(),
    targetType: text("target_type"),
    targetId: text("target_id"),
    ip: text("ip"),
    /** JSON object; never a secret value or a token. */
    details: text("details").notNull().default("{}"),
  },
  (t) => [index("audit_events_action").on(t.action, t.id), index("audit_events_at").on(t.at)],
);

/** A saved cache: immutable once its key exists in the project (a second save is a no-op). */
export const caches = sqliteTable(
  "caches",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id),
    key: text("key").notNull(),
    blobKey: text("blob_key").notNull(),
    size: integer("size").notNull(),
    /** The job that saved it. */
    jobId: text("job_id").notNull(),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("caches_project_key").on(t.projectId, t.key),
    index("caches_project_created").on(t.projectId, t.createdAt),
  ],
);

/** One published version of an orb (`cairn orb publish ns/name@X.Y.Z`): immutable once stored. */
export const orbVersions = sqliteTable(
  "orb_versions",
  {
    id: text("id").primaryKey(),
    namespace: text("namespace").notNull(),
    name: text("name").notNull(),
    version: text("version").notNull(),
    /** The packed orb YAML, as `cairn orb pack` printed it. */
    body: text("body").notNull(),
    /** sha256 of the body, hex. */
    digest: text("digest").notNull(),
    publishedBy: text("published_by").notNull(),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("orb_versions_ref").on(t.namespace, t.name, t.version)],
);

/**
 * A schedule the server fires itself (services/schedules.ts): a project schedule made through the API
 * (`source: api`, triggered as its actor), or one `triggers: schedule` of a config workflow on one
 * branch (`source: config`, kept in step with that branch's config each time a pipeline reads it).
 * A process fires it by moving `next_run_at` on with a conditional UPDATE, so one fire is one pipeline.
 */
export const schedules = sqliteTable(
  "schedules",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id),
    source: text("source", { enum: ["api", "config"] }).notNull(),
    name: text("name").notNull(),
    description: text("description").notNull().default(""),
    /** Five-field cron, UTC: given, or made from the timetable. */
    cron: text("cron").notNull(),
    /** The CircleCI-style timetable as given (JSON); null when a cron string was given. */
    timetable: text("timetable"),
    branch: text("branch"),
    tag: text("tag"),
    /** Pipeline parameters, JSON. */
    parameters: text("parameters").notNull().default("{}"),
    /** The user a project schedule triggers as; null for config schedules. */
    actorId: text("actor_id"),
    /** The config workflow a `source: config` schedule runs. */
    workflow: text("workflow"),
    nextRunAt: integer("next_run_at").notNull(),
    lastRunAt: integer("last_run_at"),
    lastPipelineId: text("last_pipeline_id"),
    /** Why the last fire made no pipeline (a missing branch, an invalid config); null when it did. */
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [index("schedules_project").on(t.projectId), index("schedules_due").on(t.nextRunAt)],
);

/** One stored file of a job (`store_artifacts`): its path as shown, its size, its blob. */
export const artifacts = sqliteTable(
  "artifacts",
  {
    id: text("id").primaryKey(),
    jobId: text("job_id")
      .notNull()
      .references(() => jobs.id),
    path: text("path").notNull(),
    size: integer("size").notNull(),
    blobKey: text("blob_key").notNull(),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("artifacts_job_path").on(t.jobId, t.path)],
);

/** One test case from a job's JUnit XML (`store_test_results`); timings feed `cairn tests split`. */
export const testResults = sqliteTable(
  "test_results",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    jobId: text("job_id")
      .notNull()
      .references(() => jobs.id),
    projectId: text("project_id").notNull(),
    suite: text("suite").notNull().default(""),
    name: text("name").notNull(),
    classname: text("classname").notNull().default(""),
    file: text("file"),
    /** Seconds. */
    time: real("time").notNull().default(0),
    status: text("status", { enum: ["passed", "failed", "error", "skipped"] }).notNull(),
    message: text("message"),
  },
  (t) => [index("test_results_job").on(t.jobId), index("test_results_project").on(t.projectId, t.id)],
);

/** A layer `persist_to_workspace` added; `attach_workspace` unpacks the layers of the jobs a job requires. */
export const workspaceLayers = sqliteTable(
  "workspace_layers",
  {
    id: text("id").primaryKey(),
    workflowId: text("workflow_id")
      .notNull()
      .references(() => workflows.id),
    jobId: text("job_id")
      .notNull()
      .references(() => jobs.id),
    blobKey: text("blob_key").notNull(),
    size: integer("size").notNull(),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [index("workspace_layers_workflow").on(t.workflowId, t.createdAt)],
);

/** Public keys users registered for SSH into builds; only the fingerprint is looked up. */
export const userSshKeys = sqliteTable(
  "user_ssh_keys",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id),
    name: text("name").notNull(),
    /** OpenSSH public key line. */
    publicKey: text("public_key").notNull(),
    /** `SHA256:…` as OpenSSH prints it. */
    fingerprint: text("fingerprint").notNull(),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("user_ssh_keys_fingerprint").on(t.fingerprint),
    index("user_ssh_keys_user").on(t.userId),
  ],
);

/**
 * Keys that sign jobs' OIDC identity tokens (services/oidc.ts): RS256, the private half (PKCS#8) sealed
 * (db/sealed-columns.ts), the public half as a JWK. The newest signs; older ones stay published in the JWKS
 * until no token they signed can still be valid, then are deleted.
 */
export const oidcKeys = sqliteTable("oidc_keys", {
  kid: text("kid").primaryKey(),
  privateKey: sealed("private_key").notNull(),
  publicJwk: text("public_jwk").notNull(),
  createdAt: integer("created_at").notNull(),
});

/** Per-project roles; org admins (users.role = admin) hold every role everywhere. */
export const projectMembers = sqliteTable(
  "project_members",
  {
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id),
    userId: text("user_id")
      .notNull()
      .references(() => users.id),
    role: text("role", { enum: ["admin", "write", "read"] }).notNull(),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("project_members_project_user").on(t.projectId, t.userId)],
);
