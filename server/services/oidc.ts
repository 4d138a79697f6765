// Job identity tokens (OIDC), as CircleCI gives them: each job gets `CIRCLE_OIDC_TOKEN` and
// `CIRCLE_OIDC_TOKEN_V2`, short-lived RS256 JWTs naming its project, pipeline, workflow, job, branch
// and contexts, so a build can trade them for cloud credentials (AWS, GCP, Vault) without any stored
// secret. The issuer is the server's public URL; `/.well-known/openid-configuration` and its JWKS
// (routes/oidc.ts) let a provider verify them. The signing key rotates every OIDC_ROTATE_MS; a key
// stays published until every token it signed has expired, then is deleted. Private halves are
// sealed at rest (`oidc:<kid>`, re-sealed by rotate-key) and delivered to jobs only as signatures.
import { desc, eq, inArray } from "drizzle-orm";
import { toBase64Url } from "../../protocol/encoding.ts";
import type { JobSpec } from "../circleci/types.ts";
import type { Db } from "../db/client.ts";
import { contexts, jobs, oidcKeys, pipelines, projects } from "../db/schema.ts";
import { openBytesFrom, SEALED_COLUMNS, sealIn } from "../db/sealed-columns.ts";
import type { Keyring } from "../secrets/index.ts";

export const OIDC_TOKEN_TTL_S = 60 * 60;
export const OIDC_ROTATE_MS = 7 * 24 * 60 * 60 * 1000;
/** A superseded key stays in the JWKS this long: the last token it signed has expired by then. */
const PUBLISHED_AFTER_MS = (OIDC_TOKEN_TTL_S + 5 * 60) * 1000;
const ALG = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/** A signing key's public half as published. */
export type PublicJwk = JsonWebKey & { kid: string; alg: "RS256"; use: "sig" };

const b64url = (v: unknown) => toBase64Url(new TextEncoder().encode(JSON.stringify(v)));

export interface OidcOptions {
  /** The issuer: the server's public URL (CAIRN_PUBLIC_URL), read when a token is made. */
  issuer: () => string;
  /** `aud` of every token (CAIRN_OIDC_AUDIENCE, default "cairn"). */
  audience: string;
  now?: () => number;
}

export class OidcIssuer {
  private readonly signers = new Map<string, CryptoKey>();
  private readonly now: () => number;

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly options: OidcOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  issuer(): string {
    return this.options.issuer().replace(/\/+$/, "");
  }

  /** The discovery document a cloud provider reads first. */
  discovery() {
    const issuer = this.issuer();
    return {
      issuer,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      response_types_supported: ["id_token"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["RS256"],
      scopes_supported: ["openid"],
      claims_supported: [
        "iss",
        "sub",
        "aud",
        "iat",
        "nbf",
        "exp",
        "jti",
        "project_id",
        "project_name",
        "pipeline_id",
        "pipeline_number",
        "workflow_id",
        "job_id",
        "job_name",
        "branch",
        "tag",
        "ref",
        "sha",
        "context_ids",
        "context_names",
      ],
    };
  }

  /** Every key a valid token may have been signed with. */
  async jwks(): Promise<{ keys: PublicJwk[] }> {
    const rows = await this.db.select().from(oidcKeys).orderBy(desc(oidcKeys.createdAt));
    const now = this.now();
    // The newest, and each older one until its successor has been signing for PUBLISHED_AFTER_MS.
    const live = rows.filter((_, i) => i === 0 || now - rows[i - 1].createdAt < PUBLISHED_AFTER_MS);
    return { keys: live.map((r) => JSON.parse(r.publicJwk) as PublicJwk) };
  }

  /** Makes a new signing key, the current one from now; deletes keys no valid token can name. */
  async rotate(): Promise<string> {
    const pair = (await crypto.subtle.generateKey(
      { ...ALG, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
      true,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    const kid = crypto.randomUUID();
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
    const { n, e, kty } = await crypto.subtle.exportKey("jwk", pair.publicKey);
    const now = this.now();
    await this.db.insert(oidcKeys).values({
      kid,
      privateKey: sealIn(this.keyring, SEALED_COLUMNS.oidcKey, { kid }, pkcs8),
      publicJwk: JSON.stringify({ kty, n, e, kid, alg: "RS256", use: "sig" }),
      createdAt: now,
    });
    pkcs8.fill(0);
    const rows = await this.db.select().from(oidcKeys).orderBy(desc(oidcKeys.createdAt));
    const gone = rows.filter((_, i) => i > 0 && now - rows[i - 1].createdAt >= PUBLISHED_AFTER_MS);
    if (gone.length)
      await this.db.delete(oidcKeys).where(
        inArray(
          oidcKeys.kid,
          gone.map((r) => r.kid),
        ),
      );
    return kid;
  }

  /** The current signing key, rotated first when it is older than OIDC_ROTATE_MS (or there is none). */
  private async signer(): Promise<{ kid: string; key: CryptoKey }> {
    let row = await this.db.query.oidcKeys.findFirst({ orderBy: desc(oidcKeys.createdAt) });
    if (!row || this.now() - row.createdAt >= OIDC_ROTATE_MS) {
      const kid = await this.rotate();
      row = (await this.db.query.oidcKeys.findFirst({ where: eq(oidcKeys.kid, kid) }))!;
    }
    let key = this.signers.get(row.kid);
    if (!key) {
      const pkcs8 = openBytesFrom(this.keyring, SEALED_COLUMNS.oidcKey, row, row.privateKey);
      key = await crypto.subtle.importKey("pkcs8", pkcs8 as Uint8Array<ArrayBuffer>, ALG, false, ["sign"]);
      pkcs8.fill(0);
      this.signers.set(row.kid, key);
    }
    return { kid: row.kid, key };
  }

  async sign(claims: Record<string, unknown>): Promise<string> {
    const { kid, key } = await this.signer();
    const input = `${b64url({ alg: "RS256", typ: "JWT", kid })}.${b64url(claims)}`;
    const signature = await crypto.subtle.sign(ALG, key, new TextEncoder().encode(input));
    return `${input}.${toBase64Url(new Uint8Array(signature))}`;
  }

  /** CIRCLE_OIDC_TOKEN (sub: the project) and CIRCLE_OIDC_TOKEN_V2 (sub: the project and the git ref). */
  async tokensForJob(jobId: string): Promise<Record<"CIRCLE_OIDC_TOKEN" | "CIRCLE_OIDC_TOKEN_V2", string>> {
    const row = await this.db
      .select({ job: jobs, pipeline: pipelines, projectName: projects.name })
      .from(jobs)
      .innerJoin(pipelines, eq(pipelines.id, jobs.pipelineId))
      .innerJoin(projects, eq(projects.id, jobs.projectId))
      .where(eq(jobs.id, jobId))
      .get();
    if (!row) throw new Error(`no job ${jobId}`);
    const { job, pipeline } = row;
    const names = (JSON.parse(job.spec) as JobSpec).contexts ?? [];
    const ctx = names.length
      ? await this.db.select().from(contexts).where(inArray(contexts.name, names))
      : [];
    const ref = pipeline.tag
      ? `refs/tags/${pipeline.tag}`
      : pipeline.branch
        ? `refs/heads/${pipeline.branch}`
        : null;
    const iat = Math.floor(this.now() / 1000);
    const common = {
      iss: this.issuer(),
      aud: this.options.audience,
      iat,
      nbf: iat,
      exp: iat + OIDC_TOKEN_TTL_S,
      project_id: job.projectId,
      project_name: row.projectName,
      pipeline_id: pipeline.id,
      pipeline_number: pipeline.number,
      workflow_id: job.workflowId,
      job_id: job.id,
      job_name: job.name,
      branch: pipeline.branch,
      tag: pipeline.tag,
      ref,
      sha: pipeline.sha,
      context_ids: names.map((n) => ctx.find((c) => c.name === n)?.id).filter(Boolean),
      context_names: names,
    };
    const sub = `project/${job.projectId}`;
    return {
      CIRCLE_OIDC_TOKEN: await this.sign({ ...common, sub, jti: crypto.randomUUID() }),
      CIRCLE_OIDC_TOKEN_V2: await this.sign({
        ...common,
        sub: `${sub}/ref/${ref ?? `sha/${pipeline.sha}`}`,
        jti: crypto.randomUUID(),
      }),
    };
  }
}
