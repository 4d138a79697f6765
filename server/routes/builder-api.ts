// The server side of the builder protocol (protocol/index.ts).
import { Hono } from "hono";
import {
  ACQUIRE_WAIT_MS,
  type FinishReport,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  parseContentRange,
  type StepReport,
} from "../../protocol/index.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError, BadRequest, Conflict, Forbidden } from "../errors.ts";
import { sourceIp } from "../http/request.ts";
import { type AuthEnv, builderAuth } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { leasedJob as leased, recordSshSession } from "../services/builder-jobs.ts";
import { builderAcquiring, LastSeen, registerBuilder, revokedAmong } from "../services/builders.ts";
import { sshUserFor, sshUsersStill } from "../services/ssh-access.ts";

const MAX_LOG_UPLOAD = 4 * 1024 * 1024;
/** Heartbeats refresh a builder's `last_seen_at` at most this often (leases last ≥ 2 heartbeats, 6 s). */
const LAST_SEEN_EVERY_MS = 1000;

export const builderApiRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;
  const lastSeen = new LastSeen(db, LAST_SEEN_EVERY_MS);

  app.use("/builder/*", async (c, next) => {
    const version = c.req.header(PROTOCOL_HEADER);
    if (version !== String(PROTOCOL_VERSION)) {
      throw new ApiError(
        400,
        "protocol_mismatch",
        `this server speaks builder protocol ${PROTOCOL_VERSION}, the builder sent ${version ?? "none"}: upgrade the builder or the server`,
      );
    }
    await next();
  });

  app.post("/builder/register", validate(ops.registerBuilder), async (c) => {
    const body = c.req.valid("json");
    const { id, token } = await registerBuilder(
      db,
      {
        registrationToken: body.registration_token,
        name: body.name,
        publicKey: body.public_key,
        slots: body.slots,
        driver: body.driver,
      },
      sourceIp(deps, c),
    );
    return c.json({ builder_id: id, token }, 201);
  });

  app.use("/builder/acquire", builderAuth({ db }));
  app.use("/builder/builders/*", builderAuth({ db }));

  // A builder's orphan reaper found sandboxes of other builders on a shared host: only those of a
  // builder revoked here may be removed. Another live builder's may be its running job, and an id
  // this server does not know may be a builder of another server sharing the host.
  app.post("/builder/builders/gone", validate(ops.goneBuilders), async (c) => {
    const ids = [...new Set(c.req.valid("json").builder_ids)];
    return c.json({ gone: await revokedAmong(db, ids) });
  });
  app.use("/builder/jobs/*", builderAuth({ db, cacheMs: 1000 }));
  app.use("/builder/ssh/*", builderAuth({ db, cacheMs: 1000 }));

  app.post("/builder/acquire", validate(ops.acquireJob), async (c) => {
    const builder = c.get("builder");
    const body = c.req.valid("json");
    const sshEndpoint =
      body.ssh_endpoint !== undefined && /^[\w.:[\]-]+:\d{1,5}$/.test(body.ssh_endpoint)
        ? body.ssh_endpoint
        : null;
    await builderAcquiring(db, builder.id, sshEndpoint);
    const payload = await deps.scheduler.acquire(
      builder.id,
      ACQUIRE_WAIT_MS,
      c.req.raw.signal,
      body.resource_classes,
    );
    if (!payload) return c.body(null, 204);
    return c.json(payload);
  });

  /** The job, if this builder holds its lease (running, or canceled and not yet finished). */
  const leasedJob = (builderId: string, jobId: string) => leased(db, builderId, jobId);

  // SSH into a build: the builder asks who a key belongs to before letting it into a job's container.
  app.post("/builder/jobs/:id/ssh/authorize", validate(ops.authorizeSsh), async (c) => {
    const job = await leasedJob(c.get("builder").id, c.req.param("id"));
    const { fingerprint } = c.req.valid("json");
    if (!job.sshEnabled || job.status !== "running") {
      throw new Forbidden("this job was not re-run with SSH, or it has ended");
    }
    const user = await sshUserFor(db, fingerprint, job.projectId);
    if (!user) throw new Forbidden("no user with write access to this project has registered this key");
    return c.json({ user });
  });

  // Each second the builder asks again about all its open SSH connections in one call; a null ends one.
  app.post("/builder/ssh/recheck", validate(ops.recheckSsh), async (c) => {
    const { connections } = c.req.valid("json");
    const asks = connections.map((a) => ({ jobId: a.job_id, fingerprint: a.fingerprint }));
    return c.json({ users: await sshUsersStill(db, c.get("builder").id, asks) });
  });

  app.post("/builder/jobs/:id/ssh/sessions", validate(ops.reportSshSession), async (c) => {
    const builder = c.get("builder");
    const job = await leasedJob(builder.id, c.req.param("id"));
    const { event, user_id: userId, reason } = c.req.valid("json");
    await recordSshSession(db, job, { builderId: builder.id, userId, event, reason, ip: sourceIp(deps, c) });
    return c.json({ ok: true });
  });

  app.post("/builder/jobs/:id/heartbeat", async (c) => {
    const builder = c.get("builder");
    await lastSeen.heard(builder.id);
    const action = await deps.scheduler.heartbeat(builder.id, c.req.param("id"));
    if (action === "gone") throw new Conflict("the job's lease has ended", undefined, "lease_lost");
    return c.json({ action });
  });

  app.patch("/builder/jobs/:id/log", async (c) => {
    const builderId = c.get("builder").id;
    const jobId = c.req.param("id");
    const range = parseContentRange(c.req.header("content-range"));
    if (!range) throw new BadRequest("Content-Range: bytes START-END/* is required", undefined, "bad_range");
    const size = range.end - range.start + 1;
    if (size > MAX_LOG_UPLOAD) throw new BadRequest(`a log upload may carry at most ${MAX_LOG_UPLOAD} bytes`);
    // Admitted before its body is read: when commits are behind, the builder waits, not our memory.
    const done = deps.logs.admit(size);
    let result: Awaited<ReturnType<typeof deps.logs.append>>;
    try {
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      if (bytes.length !== size)
        throw new BadRequest(`Content-Range says ${size} bytes, the body has ${bytes.length}`);
      // The lease is checked by the log service against the job row it keeps (and by its conditional
      // write), so an upload costs no query of its own; a failed write says why through leasedJob.
      result = await deps.logs.append(jobId, range.start, bytes, builderId).catch(async (err) => {
        if (!(err instanceof ApiError)) await leasedJob(builderId, jobId);
        throw err;
      });
    } finally {
      done();
    }
    if (!result.ok) {
      return c.json(
        {
          error: { code: "range_not_satisfiable", message: `expected offset ${result.offset}` },
          offset: result.offset,
        },
        416,
      );
    }
    // A builder delivering the job's log is alive: its lease holds even when its heartbeats are late.
    await deps.scheduler.uploaded(builderId, jobId);
    return c.json({ offset: result.offset });
  });

  app.post("/builder/jobs/:id/steps", validate(ops.reportStep), async (c) => {
    const job = await leasedJob(c.get("builder").id, c.req.param("id"));
    const body = c.req.valid("json") as StepReport;
    const firstLine = (await deps.logs.lineCount(job.id)) + 1;
    await deps.scheduler.reportStep(job.id, body, firstLine);
    return c.json({ ok: true });
  });

  app.post("/builder/jobs/:id/finish", validate(ops.finishJob), async (c) => {
    const builder = c.get("builder");
    const job = await leasedJob(builder.id, c.req.param("id"));
    const body = c.req.valid("json") as FinishReport;
    if (typeof body.log_bytes === "number" && body.log_bytes !== job.logBytes) {
      return c.json(
        {
          error: { code: "log_incomplete", message: `server has ${job.logBytes} log bytes` },
          offset: job.logBytes,
        },
        416,
      );
    }
    const ok = await deps.scheduler.finish(builder.id, job.id, {
      ...body,
      unsandboxed: Boolean(body.unsandboxed),
    });
    if (!ok) throw new Conflict("the job's lease has ended", undefined, "lease_lost");
    return c.json({ ok: true });
  });

  return app;
};
