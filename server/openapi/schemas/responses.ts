// What the API answers: one schema per shape a route returns (routes/presenters.ts and the routes'
// own c.json calls). server/openapi/responses.test.ts checks real answers against these, so a field
// added to a presenter without a line here fails the suite.
import { z } from "zod";
import { AUDIT_ACTOR_TYPES, JOB_STATUSES } from "../../db/schema.ts";
import { PROJECT_ROLES } from "../../services/access.ts";
import { anyObject, ntime, pageOf, time } from "./common.ts";

const USER_ROLES = ["admin", "member"] as const;
const nstr = z.string().nullable();

export const Health = z.object({ status: z.literal("ok"), version: z.string(), tls: z.boolean() });

export const Project = z.object({
  id: z.string(),
  name: z.string(),
  repo_url: z.string(),
  default_branch: z.string(),
  followed: z.boolean(),
  max_concurrent_jobs: z.number().int().nullable(),
  network: z.enum(["egress", "none"]).describe("none: jobs run loopback-only"),
  created_at: time(),
});

/** The source-control half of a project (presentSourceControl): never a secret. */
const SourceControl = {
  branch_filters: z.array(z.string()),
  webhook_url: z.string().describe("GitHub webhook"),
  generic_webhook_url: z.string().describe("generic signed webhook"),
  webhook_secret_set: z.boolean(),
  forge: z
    .object({ kind: z.literal("github"), api_url: z.string(), repo: z.string(), token_set: z.boolean() })
    .nullable(),
  known_hosts: nstr,
  deploy_key: z.object({ public_key: z.string(), fingerprint: nstr }).nullable(),
  pass_secrets_to_forks: z.boolean().describe("builds of forks' pull requests get the project's secrets"),
};

export const ProjectDetail = Project.extend(SourceControl);
export const ProjectCreated = ProjectDetail.extend({
  webhook_secret: z.string().describe("shown this once"),
});
export const ProjectSettings = z.object({
  id: z.string(),
  ...SourceControl,
  followed: z.boolean(),
  default_branch: z.string(),
  max_concurrent_jobs: z.number().int().nullable(),
  network: z.enum(["egress", "none"]),
});
export const ProjectFollow = z.object({ id: z.string(), followed: z.boolean() });
export const WebhookSecret = z.object({
  webhook_secret: z.string().describe("shown this once"),
  github: z.string(),
  generic: z.string(),
});

export const DeployKey = z.object({ public_key: z.string(), fingerprint: nstr, forge_key_id: nstr });
export const DeployKeyCreated = z.object({
  public_key: z.string(),
  fingerprint: z.string(),
  forge: z
    .object({ added: z.boolean(), id: z.string().optional(), error: z.string().optional() })
    .nullable()
    .describe("null when no forge is connected"),
});
export const DeployKeyRemoved = z.object({
  removed: z.literal(true),
  fingerprint: nstr,
  forge: z.object({ removed: z.boolean(), error: z.string().optional() }).nullable(),
});

export const Member = z.object({
  user_id: z.string(),
  login: z.string(),
  role: z.enum(PROJECT_ROLES),
  created_at: time(),
});
export const MemberAdded = z.object({
  project_id: z.string(),
  user_id: z.string(),
  login: z.string(),
  role: z.enum(PROJECT_ROLES),
});

export const SecretVar = z.object({
  name: z.string(),
  hint: nstr.describe("a few characters of the value, when it is long enough to show them safely"),
  created_at: time(),
  updated_at: ntime(),
});
export const SecretVarSet = SecretVar.extend({
  created: z.boolean().describe("false when an existing value was replaced"),
  warnings: z.array(z.object({ code: z.string(), message: z.string() })),
});

const approval = z.enum(["pending", "approved", "canceled"]).optional().describe("approval jobs only");
const slice = z.object({ index: z.number().int(), total: z.number().int() });

export const JobSummary = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(JOB_STATUSES),
  approval,
  attempt: z.number().int(),
  slice,
  superseded_by: nstr,
  workflow_id: z.string(),
  requires: z.array(z.string()),
});

export const Pipeline = z.object({
  id: z.string(),
  project_id: z.string(),
  number: z.number().int(),
  branch: nstr,
  tag: nstr,
  sha: z.string(),
  status: z
    .string()
    .describe(
      "created, fetching, planning (answered, not yet planned: `sha` and `config_path` empty, no workflows), queued, running, success, failed, canceled, or error (it cannot run: `config_errors`)",
    ),
  trigger: z.string().describe("api, webhook, …"),
  from_fork: z.boolean().describe("built from a fork's pull request"),
  metadata: anyObject.nullable().describe("what triggered it: the webhook delivery, the pull request"),
  config_path: nstr,
  orbs: z
    .record(z.string(), z.string())
    .describe("published orbs the config declared, by alias, as resolved at trigger time (ns/name@X.Y.Z)"),
  config_errors: z
    .array(z.object({ file: z.string(), line: z.number().int(), col: z.number().int(), message: z.string() }))
    .describe("an `error` pipeline's problems, every one; empty otherwise"),
  created_at: time(),
  finished_at: ntime(),
  workflows: z.array(z.object({ id: z.string(), name: z.string(), status: z.string() })),
  jobs: z.array(JobSummary),
});

export const PipelineContinued = z.object({
  message: z.string(),
  pipeline: z.object({ id: z.string(), number: z.number().int() }),
  workflows: z.array(z.object({ id: z.string(), name: z.string() })),
  jobs: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      status: z.string(),
      workflow: z.string(),
      slice: z.number().int().optional(),
    }),
  ),
});

export const Step = z.object({
  index: z.number().int(),
  name: z.string(),
  status: z.string(),
  exit_code: z.number().int().nullable(),
  first_line: z.number().int().nullable(),
  started_at: ntime(),
  finished_at: ntime(),
});

export const Job = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(JOB_STATUSES),
  approval,
  project_id: z.string(),
  pipeline_id: z.string(),
  workflow_id: z.string(),
  requires: z.array(z.string()),
  attempt: z.number().int(),
  slice,
  superseded_by: nstr,
  executor: z.object({ kind: z.string(), image: z.string().optional() }).nullable(),
  template: nstr,
  image: z
    .object({ name: z.string(), digest: z.string() })
    .nullable()
    .describe("the image the job ran in, as its builder reported it; null on a template or before it starts"),
  builder_id: nstr,
  unsandboxed: z.boolean().nullable(),
  fork_secrets: z
    .enum(["withheld", "passed"])
    .nullable()
    .describe("a fork's job, as granted: the project's secrets withheld, or passed by project setting"),
  failure_reason: nstr,
  log_lines: z.number().int(),
  created_at: time(),
  started_at: ntime(),
  finished_at: ntime(),
  steps: z.array(Step),
  ssh: z
    .object({ enabled: z.literal(true), command: nstr.describe("null until a builder holds the job") })
    .nullable(),
});

export const JobCanceled = z.object({ id: z.string(), canceled: z.boolean(), status: z.string() });
export const JobRerunAccepted = z.object({ job_id: z.string(), retry_of: z.string(), ssh: z.boolean() });
export const WorkflowRerunAccepted = z.object({
  workflow_id: z.string(),
  pipeline_id: z.string(),
  jobs: z.array(z.string()),
});
export const JobApproved = z.object({
  id: z.string(),
  status: z.literal("success"),
  approval: z.literal("approved"),
});

const color = z.union([z.number().int(), z.string()]);
export const LogLine = z.object({
  n: z.number().int().describe("1-based line number"),
  text: z.string().describe("plain text, secrets masked"),
  spans: z.array(
    z.object({
      start: z.number().int(),
      end: z.number().int(),
      fg: color.optional(),
      bg: color.optional(),
      bold: z.literal(true).optional(),
      dim: z.literal(true).optional(),
      italic: z.literal(true).optional(),
      underline: z.literal(true).optional(),
      inverse: z.literal(true).optional(),
      strike: z.literal(true).optional(),
      href: z.string().optional(),
    }),
  ),
  cont: z.literal(true).optional().describe("continues the previous line (lines over 64 KiB are split)"),
});
export const LogPage = z.object({
  job_id: z.string(),
  status: z.enum(JOB_STATUSES),
  lines: z.array(LogLine),
  next_from: z.number().int(),
  total_lines: z.number().int(),
  complete: z.boolean(),
});

export const Artifact = z.object({ path: z.string(), size: z.number().int(), url: z.string() });
export const TestResults = z.object({
  job_id: z.string(),
  summary: z.object({
    total: z.number().int(),
    passed: z.number().int(),
    failed: z.number().int(),
    error: z.number().int(),
    skipped: z.number().int(),
    time: z.number(),
  }),
  tests: z.array(
    z.object({
      suite: nstr,
      name: z.string(),
      classname: nstr,
      file: nstr,
      time: z.number(),
      status: z.enum(["passed", "failed", "error", "skipped"]),
      message: nstr,
    }),
  ),
});

export const Context = z.object({ id: z.string(), name: z.string(), created_at: time() });

export const ContextRestriction = z.object({
  id: z.string(),
  context_id: z.string(),
  restriction_type: z.enum(["project", "expression"]),
  restriction_value: z.string(),
  name: z.string().nullable().describe("the project's name, for a project restriction"),
  created_at: time(),
});

export const OrbVersionSummary = z.object({ version: z.string(), digest: z.string(), created_at: time() });
export const Orb = z.object({
  name: z.string().describe("namespace/name"),
  versions: z.array(OrbVersionSummary),
});
export const OrbVersion = z.object({
  name: z.string(),
  version: z.string(),
  digest: z.string().describe("sha256 of body, hex"),
  body: z.string().describe("the packed orb YAML"),
  created_at: time(),
});

export const Schedule = z.object({
  id: z.string(),
  project_id: z.string(),
  name: z.string(),
  description: z.string(),
  source: z.enum(["api", "config"]).describe("made through the API, or a config workflow's `triggers:`"),
  timetable: anyObject.describe("as given: `{cron}` or CircleCI's timetable"),
  cron: z.string().describe("the five-field cron it fires on, UTC"),
  branch: nstr,
  tag: nstr,
  parameters: anyObject,
  workflow: nstr.describe("the config workflow a `source: config` schedule runs"),
  actor: z
    .object({ id: z.string(), login: nstr })
    .nullable()
    .describe("the user its pipelines are triggered as (null: config schedules)"),
  next_run_at: ntime(),
  last_run_at: ntime(),
  last_pipeline_id: nstr,
  last_error: nstr.describe("why the last fire made no pipeline"),
  created_at: ntime(),
  updated_at: ntime(),
});

export const Builder = z.object({
  id: z.string(),
  name: z.string(),
  slots: z.number().int(),
  driver: z.string(),
  last_seen_at: ntime(),
  revoked_at: ntime(),
  created_at: time(),
  running_jobs: z
    .array(
      z.object({
        id: z.string(),
        name: z.string(),
        project_id: z.string(),
        pipeline_id: z.string(),
        slice: z.object({ index: z.number().int(), total: z.number().int() }),
        started_at: ntime(),
      }),
    )
    .describe("the jobs it holds leases on now, oldest first"),
});
export const BuilderRevoked = z.object({ id: z.string(), revoked: z.literal(true) });
export const RegistrationToken = z.object({ token: z.string().describe("shown once"), expires_at: time() });

export const AuditEvent = z.object({
  id: z.number().int(),
  at: time(),
  actor: z.object({ type: z.enum(AUDIT_ACTOR_TYPES), id: nstr }),
  action: z.string(),
  target: z.object({ type: z.string(), id: nstr }).nullable(),
  ip: nstr,
  details: anyObject,
});

export const User = z.object({
  id: z.string(),
  login: z.string(),
  role: z
    .enum(USER_ROLES)
    .optional()
    .describe("in the list, shown to org admins only (like the fields below)"),
  github_login: nstr.optional(),
  has_password: z.boolean().optional(),
  created_at: time().optional(),
});

export const Token = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(PROJECT_ROLES)),
  created_at: time(),
  expires_at: ntime(),
  revoked_at: ntime(),
});
export const TokenCreated = Token.extend({ token: z.string().describe("the token: shown this once") });

export const SshKey = z.object({
  id: z.string(),
  name: z.string(),
  public_key: z.string(),
  fingerprint: z.string(),
  created_at: time(),
});

export const SignInMethods = z.object({
  password: z.boolean().describe("login and password (where the runtime can hash)"),
  token: z.boolean(),
  token_first: z.boolean().describe("no user has a password yet: the sign-in page offers the token first"),
  github: z.object({ url: z.string() }).nullable().describe("null when GitHub sign-in is not configured"),
});

export const Session = z.object({
  user: z.object({ id: z.string(), login: z.string(), role: z.enum(USER_ROLES) }),
  scopes: z
    .array(z.enum(["read", "write", "admin"]))
    .describe("what the session may do, capping the user's roles: a token's sign-in carries its scopes"),
  csrf: z.string().describe("send as X-Cairn-CSRF on cookie-authenticated writes"),
  expires_at: time(),
});

export const HookResult = z
  .looseObject({ status: z.enum(["created", "duplicate", "ignored", "skipped", "pong"]) })
  .describe("what the delivery did: `created` carries the pipeline");

const insightStats = {
  runs: z.number().int().describe("finished runs (success or failed)"),
  successes: z.number().int(),
  failures: z.number().int(),
  success_rate: z.number().nullable().describe("successes / runs; null without runs"),
  duration_ms: z.object({
    p50: z.number().nullable(),
    p95: z.number().nullable(),
    max: z.number().nullable(),
  }),
};

export const Insights = z.object({
  scope: z.object({ workflow: nstr, job: nstr }),
  window: z.object({ from: time(), to: time(), bucket: z.enum(["hour", "day"]) }),
  summary: z.object(insightStats),
  series: z
    .array(z.object({ start: time(), ...insightStats }))
    .describe("one entry per bucket, oldest first"),
  breakdown: z
    .array(z.object({ name: z.string(), ...insightStats }))
    .describe("the workflows of a project, or the jobs of a workflow"),
});

const testId = { classname: z.string(), name: z.string(), file: nstr, runs: z.number().int() };

export const InsightsTests = z.object({
  slowest: z.array(z.object({ ...testId, mean_s: z.number(), max_s: z.number() })),
  flaky: z
    .array(
      z.object({
        ...testId,
        passed: z.number().int(),
        failed: z.number().int(),
        failure_rate: z.number().describe("failed / runs"),
        flaky_commits: z.number().int().describe("commits on which it both failed and passed"),
      }),
    )
    .describe("tests that failed and passed on the same commit"),
});

export const Pages = {
  Projects: pageOf(Project),
  Pipelines: pageOf(Pipeline),
  Members: pageOf(Member),
  SecretVars: pageOf(SecretVar),
  Artifacts: pageOf(Artifact),
  Contexts: pageOf(Context),
  ContextRestrictions: pageOf(ContextRestriction),
  Orbs: pageOf(Orb),
  Schedules: pageOf(Schedule),
  Builders: pageOf(Builder),
  AuditEvents: pageOf(AuditEvent),
  Users: pageOf(User),
  Tokens: pageOf(Token),
  SshKeys: pageOf(SshKey),
};
