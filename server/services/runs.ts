// Reading what ran: a pipeline with its workflows and jobs, a job with its steps, a project's
// pipelines newest first, a job's artifacts. The rows are the API's to present (routes/presenters.ts).
import { and, asc, desc, eq, lt } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { artifacts, builders, jobs, pipelines, steps, workflows } from "../db/schema.ts";
import { NotFound } from "../errors.ts";

export type PipelineRow = typeof pipelines.$inferSelect;
export type WorkflowRow = typeof workflows.$inferSelect;
export type JobRow = typeof jobs.$inferSelect;
export type StepRow = typeof steps.$inferSelect;
export type ArtifactRow = typeof artifacts.$inferSelect;

export interface PipelineTree {
  pipeline: PipelineRow;
  workflows: WorkflowRow[];
  jobs: JobRow[];
}

export async function findPipeline(db: Db, id: string): Promise<PipelineRow | undefined> {
  return db.query.pipelines.findFirst({ where: eq(pipelines.id, id) });
}

/** A pipeline with its workflows and jobs, oldest first. */
export async function pipelineTree(db: Db, pipeline: PipelineRow): Promise<PipelineTree> {
  const wfs = await db
    .select()
    .from(workflows)
    .where(eq(workflows.pipelineId, pipeline.id))
    .orderBy(asc(workflows.createdAt));
  const js = await db
    .select()
    .from(jobs)
    .where(eq(jobs.pipelineId, pipeline.id))
    .orderBy(asc(jobs.createdAt));
  return { pipeline, workflows: wfs, jobs: js };
}

export async function pipelineTreeById(db: Db, id: string): Promise<PipelineTree> {
  const p = await findPipeline(db, id);
  if (!p) throw new NotFound("pipeline", id);
  return pipelineTree(db, p);
}

/** A project's pipelines, newest first, numbered below `before`. */
export function projectPipelines(db: Db, projectId: string, q: { before?: number; limit: number }) {
  return db
    .select()
    .from(pipelines)
    .where(
      and(
        eq(pipelines.projectId, projectId),
        q.before !== undefined ? lt(pipelines.number, q.before) : undefined,
      ),
    )
    .orderBy(desc(pipelines.number))
    .limit(q.limit);
}

export function stepsOf(db: Db, jobId: string): Promise<StepRow[]> {
  return db.select().from(steps).where(eq(steps.jobId, jobId)).orderBy(asc(steps.index));
}

/** The address of the SSH server of the builder holding a job re-run with SSH (null: none yet). */
export async function sshEndpointOf(db: Db, job: JobRow): Promise<string | null> {
  if (!job.sshEnabled || !job.builderId) return null;
  const builder = await db.query.builders.findFirst({ where: eq(builders.id, job.builderId) });
  return builder?.sshEndpoint ?? null;
}

export function artifactsOf(db: Db, jobId: string): Promise<ArtifactRow[]> {
  return db.select().from(artifacts).where(eq(artifacts.jobId, jobId)).orderBy(asc(artifacts.path));
}

/** The artifact row for a job and path, or null. */
export async function findArtifact(db: Db, jobId: string, path: string): Promise<ArtifactRow | null> {
  return (
    (await db.query.artifacts.findFirst({
      where: and(eq(artifacts.jobId, jobId), eq(artifacts.path, path)),
    })) ?? null
  );
}
