// Webhooks from forges, without bearer auth: the HMAC signature over the raw body, under the
// project's webhook secret, is the authentication, and it is checked before anything is parsed or
// written. GitHub / GitHub Enterprise (`X-Hub-Signature-256`) and a generic signed hook for any git
// host (`X-Cairn-Signature-256`, sent by scripts/post-receive). Deliveries are recorded by id, so a
// replay creates nothing. The generic hook also signs a timestamp and its delivery id and is refused
// outside a 5-minute window, so a captured request dies with it. GitHub signs only the body, not its
// delivery id nor a time: the limit SECURITY.md documents (a captured GitHub delivery sent again under
// a new id is accepted; two pushes can carry identical bodies, so the body cannot be the key).
import type { Context } from "hono";
import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { ApiError, BadRequest } from "../errors.ts";
import { decideGeneric, decideGithub, type HookDecision } from "../forge/events.ts";
import { webhookSecretOf } from "../forge/project-forge.ts";
import { GENERIC_WINDOW_S, genericSignedMaterial, verifySignature } from "../forge/signature.ts";
import { publicBase } from "../http/request.ts";
import { findProject } from "../services/projects.ts";
import { receiveDelivery } from "../services/webhooks.ts";

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
  const project = await findProject(db, projectId);

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
  const outcome = await receiveDelivery(deps, project, {
    source,
    event,
    id: deliveryId,
    decision,
    publicBase: publicBase(deps, c),
  });
  switch (outcome.status) {
    case "ignored":
    case "skipped":
      return c.json(outcome, 202);
    case "duplicate":
      return c.json({ status: "duplicate", delivery: deliveryId }, 200);
    case "created":
      return c.json({ status: "created", delivery: deliveryId, pipeline: outcome.pipeline }, 201);
  }
}
