// A job's log from the builder's upload to storage: offset-addressed raw bytes go through the
// job's log pipeline (mask, parse ANSI, split lines); the resulting chunks are persisted in
// libSQL before the upload is acknowledged, then fanned out to live viewers.
import { and, asc, eq, gte } from "drizzle-orm";
import type { LogChunk, LogLine, LogPipeline, LogPipelineOptions } from "../../wasm/types.ts";
import type { Db } from "../db/client.ts";
import { jobs, logChunks } from "../db/schema.ts";
import { LogHub } from "./hub.ts";

export interface LogPipelineFactory {
  create(opts?: LogPipelineOptions): LogPipeline;
}

export type AppendResult = { ok: true; offset: number } | { ok: false; offset: number };

export class LogService {
  readonly hub = new LogHub();
  private readonly pipelines = new Map<string, LogPipeline>();
  /** Per-job promise chain: a job's uploads are processed one at a time, in order. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Db,
    private readonly factory: LogPipelineFactory,
    /** The job's secret values, registered with its pipeline for masking. */
    private readonly secretsFor: (jobId: string) => Promise<string[]> = async () => [],
  ) {}

  private serial<T>(jobId: string, work: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(jobId) ?? Promise.resolve();
    const next = prev.then(work, work);
    const settled = next.catch(() => {});
    this.queues.set(jobId, settled);
    settled.then(() => {
      if (this.queues.get(jobId) === settled) this.queues.delete(jobId);
    });
    return next;
  }

  private async pipelineFor(jobId: string, firstLine: number): Promise<LogPipeline> {
    let p = this.pipelines.get(jobId);
    if (!p) {
      p = this.factory.create({ secrets: await this.secretsFor(jobId), firstLine });
      this.pipelines.set(jobId, p);
    }
    return p;
  }

  /** Appends raw bytes that start at byte `start` of the job's log. */
  append(jobId: string, start: number, bytes: Uint8Array): Promise<AppendResult> {
    return this.serial(jobId, async () => {
      const job = await this.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
      if (!job) throw new Error(`job ${jobId} vanished`);
      const acked = job.logBytes;
      if (start > acked) return { ok: false, offset: acked };
      const end = start + bytes.length;
      if (end <= acked) return { ok: true, offset: acked }; // already have it all
      const fresh = bytes.subarray(acked - start);
      const pipeline = await this.pipelineFor(jobId, job.logLines + 1);
      const chunks = pipeline.push(fresh);
      await this.persist(jobId, chunks, { from: acked, to: end, lines: job.logLines });
      return { ok: true, offset: end };
    });
  }

  /** Releases what the pipeline holds back (end of a step): the partial last line becomes a line. */
  flush(jobId: string): Promise<void> {
    return this.serial(jobId, async () => {
      const pipeline = this.pipelines.get(jobId);
      if (!pipeline) return;
      const job = await this.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
      if (!job) return;
      const chunks = pipeline.flush();
      await this.persist(jobId, chunks, { from: job.logBytes, to: job.logBytes, lines: job.logLines });
    });
  }

  /** Ends the job's log: flushes, frees the pipeline, tells viewers the result. */
  finish(jobId: string, status: string): Promise<void> {
    return this.flush(jobId).then(() =>
      this.serial(jobId, async () => {
        this.pipelines.get(jobId)?.dispose();
        this.pipelines.delete(jobId);
        this.hub.publish(jobId, { kind: "end", status });
      }),
    );
  }

  private async persist(
    jobId: string,
    chunks: LogChunk[],
    at: { from: number; to: number; lines: number },
  ): Promise<void> {
    const last = chunks.length ? chunks[chunks.length - 1].last : at.lines;
    await this.db.transaction(async (tx) => {
      for (const c of chunks) {
        await tx.insert(logChunks).values({
          jobId,
          firstLine: c.first,
          lastLine: c.last,
          body: JSON.stringify(c.lines),
        });
      }
      const r = await tx
        .update(jobs)
        .set({ logBytes: at.to, logLines: last })
        .where(and(eq(jobs.id, jobId), eq(jobs.logBytes, at.from)));
      if (r.rowsAffected !== 1) throw new Error(`log of job ${jobId} moved under us (expected offset ${at.from})`);
    });
    for (const chunk of chunks) this.hub.publish(jobId, { kind: "chunk", chunk });
  }

  /** Lines with number > `after`, at most `limit` of them, in order. */
  async readLines(jobId: string, after: number, limit = 10_000): Promise<LogLine[]> {
    const rows = await this.db
      .select({ body: logChunks.body })
      .from(logChunks)
      .where(and(eq(logChunks.jobId, jobId), gte(logChunks.lastLine, after + 1)))
      .orderBy(asc(logChunks.firstLine));
    const out: LogLine[] = [];
    for (const row of rows) {
      for (const line of JSON.parse(row.body) as LogLine[]) {
        if (line.n > after) out.push(line);
        if (out.length >= limit) return out;
      }
    }
    return out;
  }

  async lineCount(jobId: string): Promise<number> {
    const job = await this.db.query.jobs.findFirst({ where: eq(jobs.id, jobId), columns: { logLines: true } });
    return job?.logLines ?? 0;
  }
}

