// What a signed forge delivery makes: nothing (ignored, skipped, a duplicate) or a pipeline. The
// route has already checked the signature and parsed the payload into a HookDecision.
// Deliveries are recorded by id for a week, so a replay creates nothing.
import type { Db } from "../db/client.ts";
import { webhookDeliveries } from "../db/schema.ts";
import { Unprocessable } from "../errors.ts";
import { branchMatches } from "../forge/branch-filters.ts";
import { type HookDecision, isFork, skipRequested } from "../forge/events.ts";
import { forgeConnection } from "../forge/project-forge.ts";
import { reportConfigError } from "../forge/status-reporter.ts";
import type { Keyring } from "../secrets/index.ts";
import type { SourcePort } from "../source/git-mirror.ts";
import { deliveryRow, rememberDelivery } from "./delivery-ids.ts";
import type { EventLog } from "./events.ts";
import { createPipeline, type ErrorPipeline, type TemplateTable } from "./pipelines.ts";
import type { Project } from "./projects.ts";
import type { Scheduler } from "./scheduler.ts";

/** Pipelines that could not be made because of the commit's config: the forge is told (status `cairn`). */
const CONFIG_ERRORS = ["config_invalid", "config_missing", "config_too_large"];

export interface WebhookDeps {
  db: Db;
  source: SourcePort;
  templates: TemplateTable;
  keyring: Keyring;
  events: Pick<EventLog, "emit">;
  scheduler: Pick<Scheduler, "notify">;
}

export interface Delivery {
  source: "github" | "generic";
  event: string;
  id: string;
  decision: Exclude<HookDecision, { kind: "ping" }>;
  /** Where people reach this server: the forge's commit status links here. */
  publicBase: string;
}

export type DeliveryOutcome =
  | { status: "ignored"; reason: string }
  | { status: "skipped"; reason: string }
  | { status: "duplicate" }
  | { status: "created"; pipeline: unknown };

export async function receiveDelivery(
  deps: WebhookDeps,
  project: Project,
  d: Delivery,
): Promise<DeliveryOutcome> {
  const { db } = deps;
  const { decision } = d;
  const ignored = (reason: string): DeliveryOutcome => ({ status: "ignored", reason });
  if (!project.followed) return ignored("the project is not followed");
  if (decision.kind === "ignore") return ignored(decision.reason);
  if (skipRequested(decision.message))
    return { status: "skipped", reason: "the head commit asks to skip CI ([ci skip] / [skip ci])" };
  const pr = decision.pull_request;
  // A fork's pull request runs someone else's code: built, but its jobs get none of this project's
  // secrets, contexts or deploy key unless the project passes them (scheduler/payloads.ts).
  const fromFork = pr ? isFork({ full_name: pr.head_repo ?? undefined }, pr.base_repo) : false;
  const filters = JSON.parse(project.branchFilters) as string[];
  if (decision.branch && !branchMatches(filters, decision.branch)) {
    return ignored(`branch ${decision.branch} matches none of the project's branch filters`);
  }

  // Remembered for a week (services/delivery-ids.ts): the same id again is answered `duplicate`.
  const thisDelivery = deliveryRow(project.id, d.id);
  if (!(await rememberDelivery(db, { projectId: project.id, deliveryId: d.id, event: d.event })))
    return { status: "duplicate" };
  const forget = () => db.delete(webhookDeliveries).where(thisDelivery);

  let created: Awaited<ReturnType<typeof createPipeline>>;
  try {
    created = await createPipeline(deps, project, {
      sha: decision.sha,
      branch: decision.branch,
      tag: decision.tag,
      trigger: pr ? "pull_request" : "webhook",
      metadata: {
        source: d.source,
        event: d.event,
        delivery: d.id,
        ...(pr ? { pull_request: { ...pr, fork: fromFork } } : {}),
      },
      fromFork,
    });
  } catch (err) {
    // The config runs nothing for this ref: an answer, not a failure (the delivery stays recorded).
    if (err instanceof Unprocessable && err.code === "no_jobs") return ignored(err.message);
    const errorPipeline = (err as { details?: { pipeline?: ErrorPipeline } }).details?.pipeline;
    if (!errorPipeline) await forget(); // anything else (repository unreachable) may be fixed and redelivered
    if (err instanceof Unprocessable && CONFIG_ERRORS.includes(err.code)) {
      const conn = forgeConnection(deps.keyring, project);
      const target = errorPipeline
        ? `${d.publicBase}/pipelines/${errorPipeline.id}`
        : `${d.publicBase}/projects/${project.id}`;
      if (conn) reportConfigError(conn, decision.sha, err.message, target);
    }
    if (!errorPipeline) throw err;
    // An invalid config is kept as a pipeline in state `error`: the delivery did create something.
    await db.update(webhookDeliveries).set({ pipelineId: errorPipeline.id }).where(thisDelivery);
    await deps.events.emit({
      type: "pipeline.finished",
      project_id: project.id,
      pipeline_id: errorPipeline.id,
      status: "error",
    });
    return { status: "created", pipeline: errorPipeline };
  }
  await db.update(webhookDeliveries).set({ pipelineId: created.id }).where(thisDelivery);
  await deps.events.emit({
    type: "pipeline.created",
    project_id: project.id,
    pipeline_id: created.id,
    status: "queued",
  });
  deps.scheduler.notify();
  return { status: "created", pipeline: created };
}
