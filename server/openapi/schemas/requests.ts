// What clients send: request bodies and query strings of the user-facing API. Shape and bounds live
// here; rules that need the database or a parser (reserved secret names, git URLs, regexes in branch
// filters) stay in the handlers, which answer 400 with their own codes.
import { z } from "zod";
import { AUDIT_ACTOR_TYPES } from "../../db/schema.ts";
import { PROJECT_ROLES } from "../../services/access.ts";
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from "../../services/passwords.ts";
import { counter, pageQuery } from "./common.ts";

const USER_ROLES = ["admin", "member"] as const;
const text = (max: number) => z.string().min(1, "must not be empty").max(max);
const ISO_TIME = /^\d{4}-\d\d-\d\dT/;

export const SessionCreate = z.union([
  z.object({ token: text(512).describe("an API token") }),
  z.object({ login: text(64), password: text(MAX_PASSWORD_LENGTH) }),
]);

export const ProjectCreate = z.object({
  name: text(200)
    .regex(/^[\w.-]+(\/[\w.-]+)?$/, "may hold letters, digits, `.`, `_`, `-` and one `/`")
    .describe("letters, digits, `.`, `_`, `-` and one `/`"),
  repo_url: text(2048).describe("a git URL: ssh://, git@host:path, https://, file:// or an absolute path"),
  default_branch: text(255).optional().describe("default `main`"),
});

export const ProjectPatch = z.strictObject({
  followed: z.boolean().optional(),
  branch_filters: z
    .array(z.string())
    .optional()
    .describe("branch names or `/regex/`; empty builds every branch"),
  default_branch: text(255).optional(),
  known_hosts: z.string().max(65_536).nullable().optional().describe("known_hosts lines, or null"),
  forge: z
    .looseObject({
      kind: z.literal("github").optional(),
      repo: z.string().describe("owner/name"),
      api_url: z.string().optional().describe("default https://api.github.com"),
      token: text(1024).optional().describe("write-only: sealed, never shown"),
    })
    .nullable()
    .optional(),
  max_concurrent_jobs: z.number().int().min(1).max(10_000).nullable().optional().describe("null: no limit"),
  pass_secrets_to_forks: z
    .boolean()
    .optional()
    .describe(
      "give builds of forks' pull requests the project's secrets, contexts and deploy key (default false)",
    ),
  network: z
    .enum(["egress", "none"])
    .optional()
    .describe("none: the project's jobs get no network (loopback only), even on a builder with egress NAT"),
});

export const PipelineTrigger = z.object({
  branch: text(255).optional(),
  tag: text(255).optional(),
  sha: text(64)
    .regex(/^[0-9a-fA-F]{4,64}$/, "must be a hex commit id")
    .optional(),
  parameters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

/** CircleCI's continuation body (POST /api/v2/pipeline/continue), as its continuation orb sends it. */
export const PipelineContinue = z.object({
  "continuation-key": text(255).describe("the setup job's CIRCLE_CONTINUATION_KEY"),
  configuration: z
    .string()
    .min(1)
    .describe("the continuation config, as YAML text (it may not say `setup: true`)"),
  parameters: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
    .optional()
    .describe("pipeline parameters, each declared by the continuation config"),
});

/** CircleCI's timetable (snake_case), or a five-field cron string; services/schedules.ts checks the values. */
export const Timetable = z
  .strictObject({
    cron: text(200).optional().describe("five-field cron, UTC (alone)"),
    per_hour: z.number().int().optional().describe("fires per hour, 1-60, evenly spaced from minute 0"),
    hours_of_day: z.array(z.number().int()).max(24).optional().describe("hours 0-23, UTC"),
    days_of_week: z.array(z.string()).max(7).optional().describe("MON … SUN"),
    days_of_month: z
      .array(z.number().int())
      .max(31)
      .optional()
      .describe("1-31 (a day matching either list fires)"),
    months: z.array(z.string()).max(12).optional().describe("JAN … DEC; all when absent"),
  })
  .describe("`{cron}` or `{per_hour, hours_of_day, days_of_week and/or days_of_month, months}`");

const ScheduleFields = {
  name: text(100).describe("unique in the project"),
  description: z.string().max(1000).optional(),
  timetable: Timetable,
  branch: text(255).optional().describe("default: the project's default branch"),
  tag: text(255).optional().describe("instead of a branch"),
  parameters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
};
export const ScheduleCreate = z.strictObject(ScheduleFields);
export const SchedulePatch = z.strictObject({
  name: ScheduleFields.name.optional(),
  description: ScheduleFields.description,
  timetable: Timetable.optional(),
  branch: ScheduleFields.branch,
  tag: ScheduleFields.tag,
  parameters: ScheduleFields.parameters,
});

export const JobRerun = z.object({ ssh: z.boolean().optional().describe("keep the container up for SSH") });
export const WorkflowRerun = z.object({
  from_failed: z.boolean().optional().describe("only the jobs that did not succeed"),
});

export const MemberAdd = z.object({ user_id: text(64), role: z.enum(PROJECT_ROLES) });

export const SecretVarCreate = z.object({
  name: z.string().describe("[A-Za-z_][A-Za-z0-9_]*, not CAIRN_* or CIRCLE_*"),
  value: z.string().describe("write-only: never answered"),
});

export const OrbPublish = z.object({
  version: z.string().max(32).describe("X.Y.Z; a published version never changes"),
  body: z
    .string()
    .max(1024 * 1024)
    .describe("the packed orb YAML (`cairn orb pack SRC_DIR`)"),
});

export const ContextCreate = z.object({
  name: text(200).regex(
    /^[A-Za-z0-9][\w.-]{0,199}$/,
    "may hold letters, digits, `.`, `_` and `-`, starting with a letter or digit",
  ),
});

export const ContextRestrictionCreate = z.object({
  restriction_type: z
    .enum(["project", "expression"])
    .describe("`project`: only that project's jobs; `expression`: must hold for the job's pipeline"),
  restriction_value: text(1000).describe(
    'a project id, or an expression such as `pipeline.git.branch == "main"` (==, !=, starts-with, not, and, or, parentheses; pipeline.git.branch, pipeline.git.tag)',
  ),
});

const githubLogin = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, "must be a GitHub login")
  .nullable()
  .optional()
  .describe("links GitHub sign-in; null unlinks");
const password = text(MAX_PASSWORD_LENGTH)
  .min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`)
  .optional()
  .describe("hashed with argon2id");

export const UserCreate = z.object({
  login: text(64).regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "may hold letters, digits, `_`, `.` and `-`"),
  role: z.enum(USER_ROLES).optional().describe("default member"),
  password,
  github_login: githubLogin,
});

export const UserPatch = z
  .object({ role: z.enum(USER_ROLES).optional(), password, github_login: githubLogin })
  .refine((b) => b.role !== undefined || b.password !== undefined || b.github_login !== undefined, {
    message: "give `role`, `password` or `github_login`",
    path: ["role"],
  })
  .meta({ minProperties: 1 });

export const TokenCreate = z.object({
  name: text(200),
  scopes: z.array(z.enum(PROJECT_ROLES)).min(1),
  expires_at: z
    .string()
    .regex(ISO_TIME, "must be an ISO 8601 date-time")
    .nullable()
    .optional()
    .meta({ format: "date-time", description: "in the future; null or absent: never" }),
});

export const SshKeyAdd = z.object({
  public_key: text(16_384).describe("one OpenSSH line: ssh-ed25519, ssh-rsa or ecdsa-sha2-*"),
  name: text(200).optional().describe("default: the key's comment"),
});

export const Page = pageQuery(200);

export const UserQuery = pageQuery(200).extend({
  login: z
    .string()
    .max(200)
    .optional()
    .describe("exactly this login: how a project admin finds a user to add who shares no project with them"),
});

export const AuditQuery = z.object({
  cursor: counter("`next_cursor` of the previous page", 15),
  limit: z.coerce.number().int().min(1).max(500).optional().describe("events per page (1-500, default 50)"),
  action: z.string().optional().describe("e.g. secret.created"),
  actor_type: z.enum(AUDIT_ACTOR_TYPES).optional(),
  actor: z.string().optional().describe("the actor's id (alias of actor_id)"),
  actor_id: z.string().optional(),
  since: z
    .string()
    .refine((s) => s === "" || Number.isFinite(/^\d+$/.test(s) ? Number(s) : Date.parse(s)), {
      message: "must be an ISO 8601 time or milliseconds since the epoch",
    })
    .optional()
    .describe("ISO 8601 time or milliseconds since the epoch"),
  format: z.enum(["json", "ndjson"]).optional().describe("ndjson exports every matching event"),
});

export const LogQuery = z.object({
  from: counter("the last line already seen (0: from the start)"),
  limit: counter("lines (JSON only; default 1000, at most 10000)"),
  format: z.enum(["json", "text", "html", "raw"]).optional().describe("default json"),
});
export const LogStreamQuery = z.object({ from: counter("resume after this line (or Last-Event-ID)") });
export const EventsQuery = z.object({
  after: counter("resume after this event id (or Last-Event-ID)", 15),
});
export const GithubCallbackQuery = z.object({
  code: z.string().optional().describe("from GitHub"),
  state: z.string().optional().describe("from GitHub; must match the state cookie"),
  error: z.string().optional().describe("set by GitHub when the user refused"),
});

/** Insights: the last `days` days of a project, a workflow (`workflow`) or a job in it (`job`). */
export const InsightsQuery = z.object({
  days: z.coerce
    .number()
    .int()
    .min(1)
    .max(90)
    .optional()
    .describe("the window: the last N days (1-90, default 30)"),
  workflow: text(200).optional().describe("a workflow name: that workflow's runs"),
  job: text(200).optional().describe("a job name (in `workflow`, when given): that job's runs"),
});

export const InsightsChartQuery = InsightsQuery.extend({
  metric: z.enum(["duration", "success_rate"]).describe("duration percentiles, or the success rate"),
});
