// The REST API's JSON, as the UI reads it (server/routes/presenters.ts is the source of truth).
export type { LogLine, Span } from "../../wasm/types.ts";

export interface User {
  id: string;
  login: string;
  role: string;
}

export interface Session {
  user: User;
  /** What the session may do (a token's sign-in carries the token's scopes); caps the user's roles. */
  scopes?: ("read" | "write" | "admin")[];
  csrf: string;
  expires_at: string;
}

export interface Project {
  id: string;
  name: string;
  repo_url: string;
  default_branch: string;
  followed: boolean;
  created_at: string;
}

export interface JobSummary {
  id: string;
  name: string;
  status: string;
  workflow_id: string;
  requires: string[];
  attempt?: number;
  /** Set on an attempt that was re-run: the id of the attempt that replaced it. */
  superseded_by?: string | null;
  /** Only on `type: approval` jobs. */
  approval?: "pending" | "approved" | "canceled";
  /** `parallelism: N` makes N jobs of one name, each a slice (index from 0). */
  slice?: { index: number; total: number };
}

export interface Pipeline {
  id: string;
  project_id: string;
  number: number;
  branch: string | null;
  tag: string | null;
  sha: string;
  status: string;
  trigger: string;
  /** Built from a fork's pull request. */
  from_fork?: boolean;
  /** What triggered it: the webhook delivery, the pull request, the schedule and its actor. */
  metadata?: Record<string, unknown> | null;
  config_path: string;
  /** Published orbs as resolved at trigger time, by alias. */
  orbs?: Record<string, string>;
  /** An `error` pipeline's config problems. */
  config_errors?: { file: string; line: number; col: number; message: string }[];
  created_at: string;
  finished_at: string | null;
  workflows: { id: string; name: string; status: string }[];
  jobs: JobSummary[];
}

export interface Step {
  index: number;
  name: string;
  status: string;
  exit_code: number | null;
  first_line: number | null;
  started_at: string | null;
  finished_at: string | null;
}

export interface Job {
  id: string;
  name: string;
  status: string;
  project_id: string;
  pipeline_id: string;
  workflow_id: string;
  requires: string[];
  attempt: number;
  slice?: { index: number; total: number };
  superseded_by?: string | null;
  executor: { kind: string; image?: string } | null;
  template: string;
  /** The image the job ran in (name, manifest digest), when it ran in one. */
  image?: { name: string; digest: string } | null;
  builder_id: string | null;
  unsandboxed: boolean | null;
  /** A fork's job, as granted: the project's secrets withheld, or passed by project setting. */
  fork_secrets: "withheld" | "passed" | null;
  failure_reason: string | null;
  log_lines: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  steps: Step[];
  /** Set for "re-run with SSH": the command once a builder with an SSH server holds the job. */
  ssh?: { enabled: boolean; command: string | null } | null;
}

export interface Builder {
  id: string;
  name: string;
  slots: number;
  driver: string | null;
  last_seen_at: string | null;
  revoked_at: string | null;
  created_at: string;
  /** Jobs it holds leases on now, oldest first. */
  running_jobs: {
    id: string;
    name: string;
    project_id: string;
    pipeline_id: string;
    slice: { index: number; total: number };
    started_at: string | null;
  }[];
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface CairnEvent {
  id: number;
  type:
    | "pipeline.created"
    | "pipeline.finished"
    | "pipeline.continued"
    | "workflow.finished"
    | "job.started"
    | "job.finished";
  project_id: string;
  pipeline_id: string;
  workflow_id?: string;
  job_id?: string;
  name?: string;
  status: string;
}

/** GET /projects/:id: the project with its source-control settings (never a secret). */
export interface ProjectDetail extends Project {
  max_concurrent_jobs: number | null;
  /** `none`: the project's jobs run loopback-only. */
  network: "egress" | "none";
  branch_filters: string[];
  webhook_url: string;
  generic_webhook_url: string;
  webhook_secret_set: boolean;
  forge: Record<string, unknown> | null;
  known_hosts: string | null;
  deploy_key: { public_key: string; fingerprint: string } | null;
  pass_secrets_to_forks: boolean;
}

/** A write-only variable as listed: its name and a masked hint, never the value. */
export interface SecretVar {
  name: string;
  hint: string;
  created_at: string;
  updated_at: string;
}

export interface Context {
  id: string;
  name: string;
  created_at: string;
}

export interface ContextRestriction {
  id: string;
  context_id: string;
  restriction_type: "project" | "expression";
  restriction_value: string;
  /** The project's name, for a project restriction. */
  name: string | null;
  created_at: string;
}

export interface Member {
  user_id: string;
  login: string;
  role: "read" | "write" | "admin";
}

export interface AuditEvent {
  id: number;
  at: string;
  actor: { type: string; id: string | null };
  action: string;
  target: { type: string; id: string | null } | null;
  ip: string | null;
  details: Record<string, unknown>;
}

export interface Artifact {
  path: string;
  size: number;
  url: string;
}

export interface TestCase {
  suite: string | null;
  name: string;
  classname: string | null;
  file: string | null;
  time: number;
  status: "passed" | "failed" | "error" | "skipped";
  message: string | null;
}

export interface TestResults {
  job_id: string;
  summary: { total: number; passed: number; failed: number; error: number; skipped: number; time: number };
  tests: TestCase[];
}

export interface SshKey {
  id: string;
  name: string;
  public_key: string;
  fingerprint: string;
  created_at: string;
}

export interface ApiToken {
  id: string;
  name: string;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface Schedule {
  id: string;
  name: string;
  description: string;
  source: "api" | "config";
  cron: string;
  branch: string | null;
  tag: string | null;
  workflow: string | null;
  actor: { id: string; login: string | null } | null;
  next_run_at: string | null;
  last_run_at: string | null;
  last_pipeline_id: string | null;
  last_error: string | null;
}
