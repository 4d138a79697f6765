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

export type Step =
  | { type: "checkout"; path?: string; method?: "full" | "blobless"; when?: When }
  | {
      type: "run";
      name: string;
      command: string;
      shell?: string;
      environment: Record<string, string>;
      background: boolean;
      workingDirectory?: string;
      /** Seconds. */
      noOutputTimeout?: number;
      when: "on_success" | "on_fail" | "always";
    }
  | {
      type: "save_cache";
      key: string;
      paths: string[];
      name?: string;
      when: "on_success" | "on_fail" | "always";
    }
  | { type: "restore_cache"; keys: string[]; name?: string; when?: When }
  | { type: "store_artifacts"; path: string; destination?: string; when?: When }
  | { type: "store_test_results"; path: string; when?: When }
  | { type: "persist_to_workspace"; root: string; paths: string[]; when?: When }
  | { type: "attach_workspace"; at: string; when?: When }
  | { type: "add_ssh_keys"; fingerprints: string[]; when?: When };

/** When a step runs, by how the job is doing so far (absent: on_success). */
export type When = "on_success" | "on_fail" | "always";

export interface Executor {
  kind: "docker" | "machine" | "macos" | "windows" | "none";
  /** Image name as written (`cimg/node:20.1`, `ubuntu-2204:current`); mapped to an LXC template by the operator's table. */
  image?: string;
  /** The primary `docker` image's `auth:` (`$NAME` values are expanded from the job's secrets on the builder). */
  auth?: { username: string; password: string };
  /** `docker:` images after the first: CircleCI service containers, which Cairn does not run (recorded to say so). */
  services?: string[];
  /** `shell:` of the job or executor, for run steps without their own. */
  shell?: string;
}

/** What a required job may have ended in for its dependent to run (CircleCI's `requires` statuses). */
export const REQUIRED_STATUSES = ["success", "failed", "canceled", "not_run", "unauthorized"] as const;
export type RequiredStatus = (typeof REQUIRED_STATUSES)[number];

export interface JobSpec {
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
  /** `<< pipeline.trigger_source >>` when not a push: `scheduled_pipeline`, `api`. */
  triggerSource?: string;
  /** `<< pipeline.schedule.name >>` / `.id` of a pipeline a project schedule started. */
  schedule?: { id: string; name: string };
  /**
   * A config schedule firing: only these `triggers: schedule` workflows run, and no others
   * (otherwise scheduled workflows never run).
   */
  scheduledWorkflows?: string[];
}
