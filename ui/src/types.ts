// The REST API's JSON, as the UI reads it (server/routes/presenters.ts is the source of truth).
export type { LogLine, Span } from "../../wasm/types.ts";

export interface User {
  id: string;
  login: string;
  role: string;
}

export interface Session {
  user: User;
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
  config_path: string;
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
  executor: { kind: string; image?: string } | null;
  template: string;
  builder_id: string | null;
  unsandboxed: boolean | null;
  failure_reason: string | null;
  log_lines: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  steps: Step[];
}

export interface Builder {
  id: string;
  name: string;
  slots: number;
  driver: string | null;
  last_seen_at: string | null;
  revoked_at: string | null;
  created_at: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface CairnEvent {
  id: number;
  type: "pipeline.created" | "pipeline.finished" | "workflow.finished" | "job.started" | "job.finished";
  project_id: string;
  pipeline_id: string;
  workflow_id?: string;
  job_id?: string;
  name?: string;
  status: string;
}
