// Blob traffic of builders (protocol/index.ts, protocol 3): caches, artifacts, test results and
// workspaces. Each call needs the builder's token and the job's live lease, and answers with a
// short-lived URL for one key and one method (services/blob-urls.ts). With the filesystem store
// those URLs point at the capability endpoint below, which needs no token: the URL is the capability.
import { Hono } from "hono";
import type {
  CacheCommitResponse,
  CacheRestoreResponse,
  CacheSaveResponse,
  TestResultsResponse,
  WorkspaceAttachResponse,
} from "../../protocol/index.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError, BadRequest, Unprocessable } from "../errors.ts";
import { type AuthEnv, builderAuth } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { type BlobMethod, BlobUrls } from "../services/blob-urls.ts";
import { jobIsRunning, leasedJob, recordArtifact } from "../services/builder-jobs.ts";
import { CacheService } from "../services/caches.ts";
import { JunitError } from "../services/junit.ts";
import { TestResultService } from "../services/test-results.ts";
import { WorkspaceService } from "../services/workspaces.ts";

/** Largest single upload through the capability endpoint. */
export const MAX_BLOB_BYTES = 5 * 1024 ** 3;
/** Largest JUnit XML document the server parses. */
const MAX_JUNIT_BYTES = 32 * 1024 * 1024;

/** `PUT/GET /builder/blobs/:token`: mounted before the builder API (no bearer token, no protocol header). */
export const blobCapabilityRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const urls = new BlobUrls(deps.blobs, deps.keyring);

  const capability = async (token: string, method: BlobMethod) => {
    const cap = await urls.verify(token, method);
    if ("refused" in cap)
      throw new ApiError(403, "blob_url_refused", `this blob URL is not valid: ${cap.refused}`);
    // Bound to the lease: once the job has ended, its URLs stop working even before they expire.
    if (!(await jobIsRunning(deps.db, cap.jobId)))
      throw new ApiError(403, "blob_url_refused", "this blob URL's job is no longer running");
    return cap;
  };

  app.put("/builder/blobs/:token", async (c) => {
    const cap = await capability(c.req.param("token"), "PUT");
    const body = c.req.raw.body;
    if (!body) throw new BadRequest("the upload has no body");
    let size: number;
    try {
      size = await deps.blobs.putStream(cap.key, body, MAX_BLOB_BYTES);
    } catch (err) {
      throw new BadRequest(`the upload failed: ${(err as Error).message}`, undefined, "upload_failed");
    }
    return c.json({ size }, 201);
  });

  app.get("/builder/blobs/:token", async (c) => {
    const cap = await capability(c.req.param("token"), "GET");
    const stream = await deps.blobs.stream(cap.key);
    if (!stream) throw new ApiError(404, "not_found", "the blob does not exist");
    return new Response(stream, { headers: { "content-type": "application/octet-stream" } });
  });

  return app;
};

/** The job-scoped calls; mounted after the builder API, whose protocol-version check applies to them. */
export const builderBlobRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;
  const urls = new BlobUrls(deps.blobs, deps.keyring);
  const cachesSvc = new CacheService(db, deps.blobs);
  const workspaces = new WorkspaceService(db);
  const tests = new TestResultService(db);

  app.use("/builder/jobs/:id/*", builderAuth({ db }));

  /** The job, if this builder holds its live lease. */
  const leased = (c: { get(k: "builder"): { id: string }; req: { param(k: "id"): string } }) =>
    leasedJob(db, c.get("builder").id, c.req.param("id"), true);

  app.post("/builder/jobs/:id/caches/restore", validate(ops.restoreCache), async (c) => {
    const job = await leased(c);
    const { keys } = c.req.valid("json");
    const hit = await cachesSvc.restore(job.projectId, keys);
    if (!hit) return c.json({ error: { code: "cache_miss", message: "no cache matches these keys" } }, 404);
    return c.json({
      key: hit.key,
      size: hit.size,
      ...(await urls.url(hit.blobKey, "GET", job.id)),
    } satisfies CacheRestoreResponse);
  });

  app.post("/builder/jobs/:id/caches/save", validate(ops.saveCache), async (c) => {
    const job = await leased(c);
    const { key } = c.req.valid("json");
    if (await cachesSvc.exists(job.projectId, key))
      return c.json({ exists: true } satisfies CacheSaveResponse);
    const uploadId = cachesSvc.uploadKey(job.projectId, job.id);
    return c.json({
      exists: false,
      upload_id: uploadId,
      ...(await urls.url(uploadId, "PUT", job.id)),
    } satisfies CacheSaveResponse);
  });

  app.post("/builder/jobs/:id/caches/commit", validate(ops.commitCache), async (c) => {
    const job = await leased(c);
    const { key, upload_id: uploadId, size } = c.req.valid("json");
    if (!cachesSvc.isUploadOf(job.projectId, job.id, uploadId))
      throw new BadRequest("`upload_id` is not this job's upload", { field: "upload_id" });
    if (!(await deps.blobs.has(uploadId)))
      throw new Unprocessable("upload_missing", "nothing was uploaded for this cache");
    const saved = await cachesSvc.commit(job.projectId, job.id, key, uploadId, size);
    return c.json({ saved } satisfies CacheCommitResponse);
  });

  app.post("/builder/jobs/:id/artifacts", validate(ops.uploadArtifact), async (c) => {
    const job = await leased(c);
    const body = c.req.valid("json");
    const path = artifactPath(body.path);
    const blobKey = await recordArtifact(db, job.id, path, body.size);
    return c.json(await urls.url(blobKey, "PUT", job.id));
  });

  app.post("/builder/jobs/:id/test-results", validate(ops.storeTestResults), async (c) => {
    const job = await leased(c);
    const length = Number(c.req.header("content-length") ?? 0);
    if (length > MAX_JUNIT_BYTES)
      throw new BadRequest(`a test report may be at most ${MAX_JUNIT_BYTES} bytes`, undefined, "too_large");
    const xml = await c.req.text();
    if (xml.length > MAX_JUNIT_BYTES)
      throw new BadRequest(`a test report may be at most ${MAX_JUNIT_BYTES} bytes`, undefined, "too_large");
    try {
      const cases = await tests.ingest(job, xml);
      const failures = cases.filter((t) => t.status === "failed" || t.status === "error").length;
      return c.json({ tests: cases.length, failures } satisfies TestResultsResponse);
    } catch (err) {
      if (err instanceof JunitError)
        throw new Unprocessable(
          "junit_invalid",
          `${c.req.valid("query").path ?? "the report"}: ${err.message}`,
        );
      throw err;
    }
  });

  app.post("/builder/jobs/:id/workspace/persist", validate(ops.persistWorkspace), async (c) => {
    const job = await leased(c);
    const { size } = c.req.valid("json");
    const blobKey = await workspaces.addLayer(job, size);
    return c.json(await urls.url(blobKey, "PUT", job.id));
  });

  app.post("/builder/jobs/:id/workspace/attach", async (c) => {
    const job = await leased(c);
    const layers = await workspaces.layersFor(job);
    const out: WorkspaceAttachResponse = { layers: [] };
    for (const l of layers)
      out.layers.push({ job: l.jobName, size: l.size, ...(await urls.url(l.blobKey, "GET", job.id)) });
    return c.json(out);
  });

  return app;
};

/** An artifact's path as shown and downloaded: relative, `/`-separated, no `.` or `..` parts. */
export function artifactPath(path: string): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || parts.some((p) => p === ".." || p.includes("\0"))) {
    throw new BadRequest("`path` must be a relative path without `..`", { field: "path" }, "invalid_body");
  }
  return parts.join("/");
}
