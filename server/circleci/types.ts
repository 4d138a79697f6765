// What the config engine hands the rest of the server: a pipeline's config, expanded and resolved
// to plain jobs and steps. Produced by server/circleci (parse + validate + expand), consumed by the
// pipeline service (rows in libSQL) and, through the job payload, by builders.

/** One problem in a config file, reported as `file:line:col: message`. */
export interface ConfigError {
  file: string;
  line: number;
  col: number;
  message: string;
}

import type { Step, When } from "../../protocol/schemas.ts";

/** A step and its `when` are protocol shapes: the builder runs them as compiled here. */
export type { Step, When };

/** A `docker:` entry after the first, as written (`entrypoint`/`command` strings split into words). */
export interface DockerService {
  image: string;
  auth?: { username: string; password: string };
  /** Host name the job's container resolves to it. */
  name?: string;
  entrypoint?: string[];
  command?: string[];
  user?: string;
  environment?: Record<string, string>;
}

export interface Executor {
  kind: "docker" | "machine" | "macos" | "windows" | "none";
  /** Image name as written (`cimg/node:20.1`, `ubuntu-2204:current`); mapped to an LXC template by the operator's table. */
  image?: string;
  /** The primary `docker` image's `auth:` (`$NAME` values are expanded from the job's secrets on the builder). */
  auth?: { username: string; password: string };
  /** `docker:` entries after the first: service containers an LXC builder starts beside the job's. */
  services?: DockerService[];
  /** `shell:` of the job or executor, for run steps without their own. */
  shell?: string;
}

/** What a required job may have ended in for its dependent to run (CircleCI's `requires` statuses). */
export const REQUIRED_STATUSES = ["success", "failed", "canceled", "not_run", "unauthorized"] as const;
export type RequiredStatus = (typeof REQUIRED_STATUSES)[number];

export interface JobSpec {
  /** A job of a setup config (`setup: true`): it gets CIRCLE_CONTINUATION_KEY to continue the pipeline. */
  setup?: boolean;
  /** Name in the workflow (after matrix expansion and `name:`). */
  name: string;
  /** The job definition it came from. */
  job: string;
  /** `no-op`: runs nothing, succeeds once its requirements are met (the scheduler settles it). */
  type: "build" | "approval" | "no-op";
  executor: Executor;
  steps: Step[];
  environment: Record<string, string>;
  workingDirectory: string;
  parallelism: number;
  resourceClass?: string;
  requires: string[];
  /** Why Cairn cannot run this job (a macOS or Windows executor, setup_remote_docker): created not_run. */
  cannotRun?: string;
  /** Absent for a required job: it must succeed. */
  requiresStatus?: Record<string, RequiredStatus[]>;
  contexts: string[];
}

export interface WorkflowPlan {
  name: string;
  jobs: JobSpec[];
}

/** Values a pipeline is planned with: they select workflows and jobs (filters) and fill `<< pipeline.* >>`. */
export interface PipelineValues {
  branch?: string;
  tag?: string;
  revision: string;
  parameters: Record<string, string | number | boolean>;
  /** e.g. "https://example.org/org/repo" */
  repoUrl?: string;
  number?: number;
  /** `<< pipeline.git.base_revision >>`: the previous revision of the branch, if known. */
  baseRevision?: string;
  /** `<< pipeline.id >>` */
  id?: string;
  /** `<< pipeline.trigger_source >>`: `webhook` (a push or pull request; the default), `api`, `scheduled_pipeline`. */
  triggerSource?: string;
  /** `<< pipeline.schedule.name >>` / `.id` of a pipeline a project schedule started. */
  schedule?: { id: string; name: string };
  /**
   * A config schedule firing: only these `triggers: schedule` workflows run, and no others
   * (otherwise scheduled workflows never run).
   */
  scheduledWorkflows?: string[];
}
