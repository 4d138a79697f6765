// Workspaces: each persist_to_workspace step adds a layer (a tar.gz); attach_workspace unpacks, in
// the order they were made, the layers of every job this one requires, directly or transitively.
import { and, asc, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { jobs, workspaceLayers } from "../db/schema.ts";
import { newId } from "./ids.ts";

export type WorkspaceLayer = typeof workspaceLayers.$inferSelect & { jobName: string };

export class WorkspaceService {
  constructor(private readonly db: Db) {}

  async addLayer(job: { id: string; workflowId: string }, size: number): Promise<string> {
    const blobKey = `workspaces/${job.workflowId}/${job.id}/${newId()}.tar.gz`;
    await this.db.insert(workspaceLayers).values({
      id: newId(),
      workflowId: job.workflowId,
      jobId: job.id,
      blobKey,
      size,
      createdAt: Date.now(),
    });
    return blobKey;
  }

  /** Layers of the succeeded upstream jobs (`requires`, transitively) in this job's workflow, oldest first. */
  async layersFor(job: { workflowId: string; requires: string }): Promise<WorkspaceLayer[]> {
    const all = await this.db
      .select({
        id: jobs.id,
        name: jobs.name,
        status: jobs.status,
        requires: jobs.requires,
        supersededBy: jobs.supersededBy,
      })
      .from(jobs)
      .where(eq(jobs.workflowId, job.workflowId));
    const upstream = new Set<string>();
    const visit = (names: string[]) => {
      for (const name of names) {
        if (upstream.has(name)) continue;
        upstream.add(name);
        for (const j of all.filter((r) => r.name === name)) visit(JSON.parse(j.requires) as string[]);
      }
    };
    visit(JSON.parse(job.requires) as string[]);
    // Only attempts that succeeded: a lost attempt's half-written layer is not the workspace.
    const sources = all.filter((j) => upstream.has(j.name) && j.status === "success" && !j.supersededBy);
    if (sources.length === 0) return [];
    const names = new Map(sources.map((j) => [j.id, j.name]));
    const rows = await this.db
      .select()
      .from(workspaceLayers)
      .where(
        and(
          eq(workspaceLayers.workflowId, job.workflowId),
          inArray(workspaceLayers.jobId, [...names.keys()]),
        ),
      )
      .orderBy(asc(workspaceLayers.createdAt), asc(workspaceLayers.id));
    return rows.map((r) => ({ ...r, jobName: names.get(r.jobId)! }));
  }
}
