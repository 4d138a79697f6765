// A leased job's payload for its builder: the steps, the environment CircleCI jobs expect, the
// checkout (with the project's deploy key), the image or template, earlier test timings, and the
// job's secrets — sealed to that builder's own NaCl key and bound to the job, so only it opens
// them, only for this job. A fork's pull request gets neither secrets nor deploy key unless its
// project passes them (fork-builds.ts).
import { eq } from "drizzle-orm";
import { checkoutKeyContext, type JobPayload, type TestTimings } from "../../../protocol/index.ts";
import type { JobSpec } from "../../circleci/types.ts";
import type { Db } from "../../db/client.ts";
import { builders, jobs, pipelines, projects } from "../../db/schema.ts";
import { pullRequestEnvironment } from "../../forge/events.ts";
import { SecretsError, sealForBuilder } from "../../secrets/index.ts";
import { continuationEnvironment } from "../continuations.ts";
import type { TemplateTable } from "../templates.ts";
import { forkSecrets, publicCheckoutUrl } from "./fork-builds.ts";

type ProjectRow = typeof projects.$inferSelect;

export interface JobPayloadPorts {
  db: Db;
  /** How long a "re-run with SSH" container stays up after its steps (CAIRN_SSH_WINDOW_S, default 10 min). */
  sshWindowSeconds?: number;
  /** The operator's image → template table: says which image a builder pulls (CAIRN_TEMPLATES). */
  templates?: Pick<TemplateTable, "imageFor">;
  /**
   * A job's secrets by name (its project's env vars and its contexts', its OIDC tokens). `pipelineOnly`
   * (a fork's job, secrets withheld): only what belongs to its own pipeline (a setup job's continuation
   * key). Absent: payloads carry no secrets.
   */
  jobSecrets?: (
    projectId: string,
    contexts: readonly string[],
    jobId: string,
    opts?: { pipelineOnly: boolean },
  ) => Promise<Record<string, string>>;
  /** A project's deploy key (OpenSSH private key) for the checkout. Absent or null: none. */
  checkoutKey?: (project: ProjectRow) => Promise<string | null>;
  /** Where jobs reach this server (CAIRN_PUBLIC_URL), read per job: setup jobs get the continuation URL from it. */
  publicUrl?: () => string;
  /** The project's earlier test timings for a job name (for `cairn tests split`). Absent: payloads carry none. */
  testTimings?: (projectId: string, jobName: string, pipelineId: string) => Promise<TestTimings | undefined>;
}

export class JobPayloads {
  readonly sshWindowSeconds: number;

  constructor(private readonly ports: JobPayloadPorts) {
    this.sshWindowSeconds = ports.sshWindowSeconds ?? 600;
  }

  /**
   * The payload of a job just leased to `builderId`. Throws SecretsError when a secret cannot be
   * sealed for it (a value that does not open, a missing context, an unknown builder).
   */
  async build(jobId: string, leaseId: string, builderId: string): Promise<JobPayload> {
    const { db } = this.ports;
    const job = (await db.query.jobs.findFirst({ where: eq(jobs.id, jobId) }))!;
    const pipeline = (await db.query.pipelines.findFirst({ where: eq(pipelines.id, job.pipelineId) }))!;
    const project = (await db.query.projects.findFirst({ where: eq(projects.id, job.projectId) }))!;
    const spec = JSON.parse(job.spec) as JobSpec;
    const fork = forkSecrets(pipeline, project);
    const withheld = fork === "withheld";
    // Recorded as granted, so the job page tells what this job ran with even if the setting changes later.
    if (fork) await db.update(jobs).set({ forkSecrets: fork }).where(eq(jobs.id, jobId));
    return {
      lease_id: leaseId,
      resource_class: spec.resourceClass ?? "medium",
      ...(job.sshEnabled ? { ssh: { window_seconds: this.sshWindowSeconds } } : {}),
      job: { id: job.id, name: job.name, attempt: job.attempt },
      project: { id: project.id, name: project.name },
      pipeline: { id: pipeline.id, number: pipeline.number },
      checkout: {
        repo_url: withheld ? publicCheckoutUrl(project.repoUrl) : project.repoUrl,
        sha: pipeline.sha,
        branch: pipeline.branch,
        tag: pipeline.tag,
        ...(withheld ? {} : await this.sealedCheckout(job.id, project, builderId)),
      },
      template: job.template,
      ...this.ports.templates?.imageFor(spec.executor),
      ...(project.network === "none" ? { network: "none" as const } : {}),
      working_directory: spec.workingDirectory,
      environment: {
        ...spec.environment,
        CI: "true",
        CAIRN: "true",
        CIRCLECI: "true",
        CIRCLE_JOB: job.name,
        CIRCLE_SHA1: pipeline.sha,
        CIRCLE_BRANCH: pipeline.branch ?? "",
        CIRCLE_TAG: pipeline.tag ?? "",
        CIRCLE_BUILD_NUM: String(pipeline.number),
        CIRCLE_PROJECT_REPONAME: project.name,
        CIRCLE_WORKING_DIRECTORY: spec.workingDirectory,
        CIRCLE_NODE_INDEX: String(job.sliceIndex),
        CIRCLE_NODE_TOTAL: String(job.sliceTotal),
        CAIRN_NODE_INDEX: String(job.sliceIndex),
        CAIRN_NODE_TOTAL: String(job.sliceTotal),
        CAIRN_JOB_ID: job.id,
        CAIRN_PIPELINE_NUMBER: String(pipeline.number),
        ...pullRequestEnvironment(pipeline.metadata),
        ...(spec.setup && this.ports.publicUrl
          ? continuationEnvironment(this.ports.publicUrl(), spec.environment)
          : {}),
        ...(fork ? { CAIRN_FORK_SECRETS: fork } : {}),
      },
      steps: spec.steps,
      // Withheld: no env vars, no contexts, no OIDC tokens — none is even opened for this job.
      secrets: await this.sealedSecrets(job.id, job.projectId, spec.contexts ?? [], builderId, withheld),
      // Only where a split may want them: a parallel job, or a step that calls the split helper.
      test_timings:
        job.sliceTotal > 1 || spec.steps.some((s) => s.type === "run" && /tests\s+split/.test(s.command))
          ? await this.ports.testTimings?.(job.projectId, job.name, job.pipelineId)
          : undefined,
    };
  }

  /** The builder's NaCl public key, which everything in its payloads is sealed to. */
  private async builderKey(builderId: string): Promise<string> {
    const builder = await this.ports.db.query.builders.findFirst({ where: eq(builders.id, builderId) });
    if (!builder) throw new SecretsError("builder_unknown", `builder ${builderId} does not exist`);
    return builder.publicKey;
  }

  /** Sealed to the builder's own NaCl key and bound to the job id: only that builder opens them, only for this job. */
  private async sealedSecrets(
    jobId: string,
    projectId: string,
    contexts: readonly string[],
    builderId: string,
    withheld: boolean,
  ) {
    if (!this.ports.jobSecrets) return undefined;
    const key = await this.builderKey(builderId);
    if (!withheld) return sealForBuilder(key, await this.ports.jobSecrets(projectId, contexts, jobId), jobId);
    const own = await this.ports.jobSecrets(projectId, [], jobId, { pipelineOnly: true });
    return Object.keys(own).length > 0 ? sealForBuilder(key, own, jobId) : undefined;
  }

  /** The project's deploy key sealed to this builder for this job only, with its pinned host keys. */
  private async sealedCheckout(jobId: string, project: ProjectRow, builderId: string) {
    const privateKey = await this.ports.checkoutKey?.(project);
    if (!privateKey) return {};
    const key = await this.builderKey(builderId);
    return {
      deploy_key: sealForBuilder(key, { private_key: privateKey }, checkoutKeyContext(jobId)),
      known_hosts: project.knownHosts ?? "",
    };
  }
}
