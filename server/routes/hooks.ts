// Webhooks from forges, without bearer auth: the HMAC signature over the raw body, under the
// project's webhook secret, is the authentication, and it is checked before anything is parsed or
// written. GitHub / GitHub Enterprise (`X-Hub-Signature-256`) and a generic signed hook for any git
// host (`X-Cairn-Signature-256`, sent by scripts/post-receive). Deliveries are recorded by id, so a
// replay creates nothing. The generic hook also signs a timestamp and its delivery id and is refused
// outside a 5-minute window, so a captured request dies with it. GitHub signs only the body, not its
// delivery id nor a time: the limit SECURITY.md documents (a captured GitHub delivery sent again under
// a new id is accepted; two pushes can carry identical bodies, so the body cannot be the key).
import { and, eq } from "drizzle-orm";
import type { Context } from "hono";
import { Hono } from "hono";
import { projects, webhookDeliveries } from "../db/schema.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError, BadRequest, NotFound, Unprocessable } from "../errors.ts";
import { branchMatches } from "../forge/branch-filters.ts";
import { decideGeneric, decideGithub, type HookDecision, skipRequested } from "../forge/events.ts";
import { forgeConnection, webhookSecretOf } from "../forge/project-forge.ts";
import { GENERIC_WINDOW_S, genericSignedMaterial, verifySignature } from "../forge/signature.ts";
import { reportConfigError } from "../forge/status-reporter.ts";
import { publicBase } from "../http/request.ts";
import { createPipeline, type ErrorPipeline } from "../services/pipelines.ts";

/** Pipelines that could not be made because of the commit's config: the forge is told (status `cairn`). */
const CONFIG_ERRORS = ["config_invalid", "config_missing", "config_too_large"];

/** GitHub caps payloads at 25 MB. */
const MAX_BODY_BYTES = 25 * 1024 * 1024;

class SignatureInvalid extends ApiError {
  constructor(header: string) {
    super(
      401,
      "signature_invalid",
      `the ${header} header is missing or does not match the body signed with this project's webhook secret`,
    );
  }
}

type Source = "github" | "generic";

export const hookRoutes = (deps: AppDeps) => {
  const app = new Hono();
  app.post("/hooks/github/:projectId", (c) => receive(deps, c, "github"));
  app.post("/hooks/generic/:projectId", (c) => receive(deps, c, "generic"));
  return app;
};

async function readRaw(c: Context): Promise<Uint8Array> {
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES)
    throw new ApiError(413, "payload_too_large", `webhook payloads are limited to ${MAX_BODY_BYTES} bytes`);
  const raw = new Uint8Array(await c.req.arrayBuffer());
  if (raw.length > MAX_BODY_BYTES)
    throw new ApiError(413, "payload_too_large", `webhook payloads are limited to ${MAX_BODY_BYTES} bytes`);
  return raw;
}

async function receive(deps: AppDeps, c: Context, source: Source) {
  const { db } = deps;
  const projectId = c.req.param("projectId") ?? "";
  const project = await db.query.projects.findFirst({ where: eq(projects.id, projectId) });
  if (!project) throw new NotFound("project", projectId);

  const header = source === "github" ? "X-Hub-Signature-256" : "X-Cairn-Signature-256";
  if (!c.req.header(header)) throw new SignatureInvalid(header);
  const event = source === "github" ? (c.req.header("x-github-event") ?? "") : "push";
  const deliveryHeader = source === "github" ? "X-GitHub-Delivery" : "X-Cairn-Delivery";
  const deliveryId = c.req.header(deliveryHeader);
  if (!deliveryId)
    throw new BadRequest(`the ${deliveryHeader} header is required`, undefined, "delivery_missing");
  if (deliveryId.length > 200)
    throw new BadRequest("the delivery id is too long", undefined, "invalid_delivery");
  const timestamp = c.req.header("x-cairn-timestamp");
  if (source === "generic" && !/^\d{1,12}$/.test(timestamp ?? ""))
    throw new BadRequest(
      "the X-Cairn-Timestamp header (Unix seconds, signed with the body) is required",
      undefined,
      "timestamp_missing",
    );

  // Authenticate first: nothing below runs for a body the project's secret did not sign.
  const raw = await readRaw(c);
  const signed = source === "github" ? raw : genericSignedMaterial(timestamp!, deliveryId, raw);
  const secret = webhookSecretOf(deps.keyring, project);
  if (!secret || !(await verifySignature(c.req.header(header), secret, signed)))
    throw new SignatureInvalid(header);
  if (source === "generic") {
    const skew = Math.abs(Math.floor(Date.now() / 1000) - Number(timestamp));
    if (skew > GENERIC_WINDOW_S)
      throw new ApiError(
        401,
        "timestamp_expired",
        `the delivery was signed ${skew} s from this server's clock: more than ${GENERIC_WINDOW_S} s is refused (a replay, or a clock to fix)`,
        { window_s: GENERIC_WINDOW_S },
      );
  }

  // GitHub sends either JSON or (its form's default) `payload=<url-encoded JSON>`; both are signed as sent.
  let text = new TextDecoder().decode(raw);
  if ((c.req.header("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) {
    text = new URLSearchParams(text).get("payload") ?? "";
  }
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    throw new BadRequest(
      "the webhook body is not valid JSON (nor a form with a JSON `payload`)",
      undefined,
      "malformed_json",
    );
  }
  const decision: HookDecision = source === "github" ? decideGithub(event, payload) : decideGeneric(payload);
  if (decision.kind === "ping") return c.json({ status: "pong", zen: decision.zen ?? null }, 200);
  const ignored = (reason: string) => c.json({ status: "ignored", reason }, 202);
  if (!project.followed) return ignored("the project is not followed");
  if (decision.kind === "ignore") return ignored(decision.reason);
  if (skipRequested(decision.message))
    return c.json(
      { status: "skipped", reason: "the head commit asks to skip CI ([ci skip] / [skip ci])" },
      202,
    );
  const pr = decision.pull_request;
  // A fork's pull request runs someone else's code: never with this project's secrets and deploy key.
  if (pr?.head_repo && pr.base_repo && pr.head_repo !== pr.base_repo) {
    return ignored(
      `pull request #${pr.number} comes from the fork ${pr.head_repo}: fork pull requests are not built`,
    );
  }
  const filters = JSON.parse(project.branchFilters) as string[];
  if (decision.branch && !branchMatches(filters, decision.branch)) {
    return ignored(`branch ${decision.branch} matches none of the project's branch filters`);
  }

  // Remembered for good (at least the generic window): the same id again is answered `duplicate`.
  const thisDelivery = and(
    eq(webhookDeliveries.projectId, project.id),
    eq(webhookDeliveries.deliveryId, deliveryId),
  );
  const r = await db
    .insert(webhookDeliveries)
    .values({ projectId: project.id, deliveryId, event })
    .onConflictDoNothing();
  if (r.rowsAffected === 0) return c.json({ status: "duplicate", delivery: deliveryId }, 200);
  const forget = () => db.delete(webhookDeliveries).where(thisDelivery);

  let created: Awaited<ReturnType<typeof createPipeline>>;
  try {
    created = await createPipeline(deps, project, {
      sha: decision.sha,
      branch: decision.branch,
      tag: decision.tag,
      trigger: pr ? "pull_request" : "webhook",
      metadata: { source, event, delivery: deliveryId, ...(pr ? { pull_request: pr } : {}) },
    });
  } catch (err) {
    // The config runs nothing for this ref: an answer, not a failure (the delivery stays recorded).
    if (err instanceof Unprocessable && err.code === "no_jobs") return ignored(err.message);
    const errorPipeline = (err as { details?: { pipeline?: ErrorPipeline } }).details?.pipeline;
    if (!errorPipeline) await forget(); // anything else (repository unreachable) may be fixed and redelivered
    if (err instanceof Unprocessable && CONFIG_ERRORS.includes(err.code)) {
      const conn = forgeConnection(deps.keyring, project);
      const target = errorPipeline
        ? `${publicBase(deps, c)}/pipelines/${errorPipeline.id}`
        : `${publicBase(deps, c)}/projects/${project.id}`;
      if (conn) reportConfigError(conn, decision.sha, err.message, target);
    }
    if (!errorPipeline) throw err;
    // An invalid config is kept as a pipeline in state `error`: the delivery did create something.
    if (deliveryId)
      await db
        .update(webhookDeliveries)
        .set({ pipelineId: errorPipeline.id })
        .where(
          and(eq(webhookDeliveries.projectId, project.id), eq(webhookDeliveries.deliveryId, deliveryId)),
        );
    await deps.events.emit({
      type: "pipeline.finished",
      project_id: project.id,
      pipeline_id: errorPipeline.id,
      status: "error",
    });
    return c.json({ status: "created", delivery: deliveryId ?? null, pipeline: errorPipeline }, 201);
  }
  await db.update(webhookDeliveries).set({ pipelineId: created.id }).where(thisDelivery);
  await deps.events.emit({
    type: "pipeline.created",
    project_id: project.id,
    pipeline_id: created.id,
    status: "queued",
  });
  deps.scheduler.notify();
  return c.json({ status: "created", delivery: deliveryId, pipeline: created }, 201);
}
