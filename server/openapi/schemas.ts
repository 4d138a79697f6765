// Components of the OpenAPI document: the shapes routes answer with, as JSON Schema (OpenAPI 3.1).
// Objects list what clients may rely on; servers may add fields (additionalProperties stays open).

type Schema = Record<string, unknown>;

const str = (description?: string): Schema => ({ type: "string", ...(description ? { description } : {}) });
const time = (nullable = false): Schema => ({
  type: nullable ? ["string", "null"] : "string",
  format: "date-time",
});
const nstr: Schema = { type: ["string", "null"] };
const int: Schema = { type: "integer" };
const bool: Schema = { type: "boolean" };
export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({
  type: "object",
  properties,
  required,
});
/** A cursor page: `{items, next_cursor}`; pass `?cursor=<next_cursor>` for the next one. */
export const pageOf = (item: Schema): Schema =>
  obj({
    items: { type: "array", items: item },
    next_cursor: { ...nstr, description: "null on the last page" },
  });

const STATUS = ["queued", "running", "success", "failed", "canceled"];

export const schemas: Record<string, Schema> = {
  Error: obj({
    error: obj(
      {
        code: str("machine-readable, e.g. invalid_body, not_found, forbidden"),
        message: str("for people"),
        details: { description: "what the error is about, e.g. {field}" },
      },
      ["code", "message"],
    ),
  }),
  Health: obj({ status: str(), version: str(), tls: bool }),
  Project: obj(
    {
      id: str(),
      name: str(),
      repo_url: str(),
      default_branch: str(),
      followed: bool,
      created_at: time(),
    },
    ["id", "name", "repo_url", "default_branch"],
  ),
  ProjectCreate: obj(
    {
      name: str("letters, digits, `.`, `_`, `-` and one `/`"),
      repo_url: str("a git URL"),
      default_branch: str(),
    },
    ["name", "repo_url"],
  ),
  ProjectCreated: { allOf: [ref("Project"), obj({ webhook_secret: str("shown this once") })] },
  ProjectPatch: {
    type: "object",
    properties: {
      default_branch: str(),
      branch_filters: { type: "array", items: str() },
      max_concurrent_jobs: { type: ["integer", "null"] },
      forge: { type: ["object", "null"] },
      forge_token: nstr,
      known_hosts: nstr,
    },
  },
  PipelineTrigger: {
    type: "object",
    properties: {
      branch: str(),
      tag: str(),
      sha: str("hex commit id"),
      parameters: { type: "object", additionalProperties: { type: ["string", "number", "boolean"] } },
    },
  },
  JobSummary: obj({ id: str(), name: str(), status: { enum: [...STATUS, "lost"] } }, [
    "id",
    "name",
    "status",
  ]),
  Pipeline: obj(
    {
      id: str(),
      project_id: str(),
      number: int,
      branch: nstr,
      sha: str(),
      status: { enum: STATUS },
      created_at: time(),
      workflows: { type: "array", items: obj({ id: str(), name: str(), status: { enum: STATUS } }) },
      jobs: { type: "array", items: ref("JobSummary") },
    },
    ["id", "project_id", "number", "status", "workflows", "jobs"],
  ),
  Job: {
    allOf: [
      ref("JobSummary"),
      {
        type: "object",
        properties: {
          steps: { type: "array", items: { type: "object" } },
          ssh: { type: ["object", "null"], properties: { enabled: bool, command: nstr } },
        },
      },
    ],
  },
  Accepted: { type: "object", description: "the action was queued; the body names what it made" },
  LogPage: obj(
    {
      job_id: str(),
      status: str(),
      lines: { type: "array", items: obj({ n: int, text: str() }, ["n", "text"]) },
      next_from: int,
      total_lines: int,
      complete: bool,
    },
    ["job_id", "lines", "next_from", "complete"],
  ),
  Artifact: obj({ path: str(), size: int, url: str() }),
  TestResults: {
    type: "object",
    properties: { job_id: str(), summary: { type: "object" }, items: { type: "array" } },
  },
  SecretVarCreate: obj({ name: str("[A-Za-z_][A-Za-z0-9_]*"), value: str("write-only: never answered") }),
  SecretVar: obj({ name: str(), hint: nstr, created_at: time(), updated_at: time(true) }, ["name"]),
  Context: obj({ id: str(), name: str(), created_at: time() }),
  DeployKey: obj({ public_key: str(), fingerprint: str(), forge_key_id: nstr }, [
    "public_key",
    "fingerprint",
  ]),
  Builder: obj({ id: str(), name: str(), slots: int, last_seen_at: time(true), revoked_at: time(true) }, [
    "id",
    "name",
  ]),
  RegistrationToken: obj({ token: str("shown once"), expires_at: time() }, ["token"]),
  AuditEvent: obj(
    {
      id: int,
      at: time(),
      actor: obj({ type: { enum: ["user", "builder", "system"] }, id: nstr }),
      action: str(),
      target: { type: ["object", "null"] },
      ip: nstr,
      details: { type: "object" },
    },
    ["id", "action"],
  ),
  User: obj(
    {
      id: str(),
      login: str(),
      role: { enum: ["admin", "member"] },
      github_login: nstr,
      has_password: bool,
      created_at: time(),
    },
    ["id", "login", "role"],
  ),
  UserCreate: obj(
    {
      login: str(),
      role: { enum: ["admin", "member"] },
      password: str("at least 12 characters; hashed with argon2id"),
      github_login: str("links GitHub sign-in"),
    },
    ["login"],
  ),
  UserPatch: {
    type: "object",
    properties: { role: { enum: ["admin", "member"] }, password: str(), github_login: nstr },
  },
  Token: obj({
    id: str(),
    name: str(),
    scopes: { type: "array", items: { enum: ["read", "write", "admin"] } },
    created_at: time(),
    expires_at: time(true),
    revoked_at: time(true),
  }),
  TokenCreate: obj(
    {
      name: str(),
      scopes: { type: "array", items: { enum: ["read", "write", "admin"] }, minItems: 1 },
      expires_at: time(),
    },
    ["name", "scopes"],
  ),
  TokenCreated: { allOf: [ref("Token"), obj({ token: str("the token: shown this once") })] },
  Member: obj(
    { user_id: str(), login: str(), role: { enum: ["read", "write", "admin"] }, created_at: time() },
    ["user_id", "role"],
  ),
  MemberAdd: obj({ user_id: str(), role: { enum: ["read", "write", "admin"] } }),
  SshKey: obj({ id: str(), name: str(), public_key: str(), fingerprint: str(), created_at: time() }),
  SshKeyAdd: obj({ public_key: str("one OpenSSH line: ssh-ed25519, ssh-rsa or ecdsa-sha2-*"), name: str() }, [
    "public_key",
  ]),
  SessionCreate: {
    oneOf: [obj({ token: str("an API token") }), obj({ login: str(), password: str() })],
  },
  Session: obj({
    user: obj({ id: str(), login: str(), role: str() }),
    csrf: str("send as X-Cairn-CSRF on cookie-authenticated writes"),
    expires_at: time(),
  }),
  BuilderMessage: { type: "object", description: "a builder-protocol message (server/protocol.ts)" },
};
