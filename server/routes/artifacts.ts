// What a job stored, for people and automation: its artifacts (listed, and downloaded through the
// server with the caller's own authentication) and its test results with a summary.
import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { ApiError, NotFound } from "../errors.ts";
import type { AuthEnv } from "../middleware/auth/index.ts";
import { requireJobRole } from "../services/access.ts";
import { artifactsOf, findArtifact } from "../services/runs.ts";
import { TestResultService } from "../services/test-results.ts";

const downloadUrl = (jobId: string, path: string) =>
  `/api/v1/jobs/${jobId}/artifacts/${path.split("/").map(encodeURIComponent).join("/")}`;

export const artifactRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;
  const tests = new TestResultService(db);

  app.get("/jobs/:id/artifacts", async (c) => {
    const job = await requireJobRole(deps, c.get("user"), c.req.param("id"), "read");
    const rows = await artifactsOf(db, job.id);
    return c.json({
      items: rows.map((r) => ({ path: r.path, size: r.size, url: downloadUrl(job.id, r.path) })),
      next_cursor: null,
    });
  });

  app.get("/jobs/:id/artifacts/*", async (c) => {
    const job = await requireJobRole(deps, c.get("user"), c.req.param("id"), "read");
    const prefix = `/jobs/${job.id}/artifacts/`;
    const at = c.req.path.indexOf(prefix);
    const path = c.req.path
      .slice(at + prefix.length)
      .split("/")
      .map((p) => decodeURIComponent(p))
      .join("/");
    const row = await findArtifact(db, job.id, path);
    if (!row) throw new NotFound("artifact", path);
    const stream = await deps.blobs.stream(row.blobKey);
    if (!stream) throw new ApiError(404, "not_found", `artifact ${JSON.stringify(path)} was never uploaded`);
    const name = path.slice(path.lastIndexOf("/") + 1).replace(/[^\w.-]/g, "_");
    return new Response(stream, {
      headers: {
        // Never rendered by the browser on our origin: artifacts are whatever a build wrote.
        "content-type": "application/octet-stream",
        "content-disposition": `attachment; filename="${name}"`,
      },
    });
  });

  app.get("/jobs/:id/tests", async (c) => {
    const job = await requireJobRole(deps, c.get("user"), c.req.param("id"), "read");
    return c.json({ job_id: job.id, ...(await tests.list(job.id)) });
  });

  return app;
};
