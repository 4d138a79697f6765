// Test results: JUnit XML a job stored, parsed into one row per test case. The API lists them with a
// summary; the scheduler gives the project's latest timings to `cairn tests split --split-by=timings`.
import { and, asc, desc, eq, inArray, ne, sql } from "drizzle-orm";
import type { TestTimings } from "../../protocol/index.ts";
import type { Db } from "../db/client.ts";
import { jobs, testResults } from "../db/schema.ts";
import { parseJunit, type TestCase } from "./junit.ts";

/** Rows per job: a runaway report stops here rather than filling the database. */
export const MAX_TESTS_PER_JOB = 50_000;
const INSERT_BATCH = 500;

export interface TestSummary {
  total: number;
  passed: number;
  failed: number;
  error: number;
  skipped: number;
  /** Seconds, summed over the cases. */
  time: number;
}

export class TestResultService {
  constructor(private readonly db: Db) {}

  /** Parses one JUnit XML document and stores its cases for the job. Throws JunitError when unreadable. */
  async ingest(job: { id: string; projectId: string }, xml: string): Promise<TestCase[]> {
    const cases = parseJunit(xml);
    const [{ n }] = await this.db
      .select({ n: sql<number>`count(*)` })
      .from(testResults)
      .where(eq(testResults.jobId, job.id));
    const room = Math.max(0, MAX_TESTS_PER_JOB - n);
    const kept = cases.slice(0, room);
    for (let i = 0; i < kept.length; i += INSERT_BATCH) {
      await this.db
        .insert(testResults)
        .values(
          kept.slice(i, i + INSERT_BATCH).map((t) => ({ ...t, jobId: job.id, projectId: job.projectId })),
        );
    }
    return kept;
  }

  async list(jobId: string) {
    const rows = await this.db
      .select()
      .from(testResults)
      .where(eq(testResults.jobId, jobId))
      .orderBy(asc(testResults.id));
    const summary: TestSummary = { total: rows.length, passed: 0, failed: 0, error: 0, skipped: 0, time: 0 };
    for (const r of rows) {
      summary[r.status]++;
      summary.time += r.time;
    }
    summary.time = Math.round(summary.time * 1000) / 1000;
    return {
      summary,
      tests: rows.map((r) => ({
        suite: r.suite,
        name: r.name,
        classname: r.classname,
        file: r.file,
        time: r.time,
        status: r.status,
        message: r.message,
      })),
    };
  }

  /**
   * Timings from the most recent earlier run of a job with this name that stored results (all its
   * slices), summed per file, classname and test name. Undefined when there is none.
   */
  async timings(
    projectId: string,
    jobName: string,
    exceptPipelineId: string,
  ): Promise<TestTimings | undefined> {
    const [latest] = await this.db
      .select({ pipelineId: jobs.pipelineId })
      .from(testResults)
      .innerJoin(jobs, eq(jobs.id, testResults.jobId))
      .where(
        and(
          eq(testResults.projectId, projectId),
          eq(jobs.name, jobName),
          ne(jobs.pipelineId, exceptPipelineId),
        ),
      )
      .orderBy(desc(testResults.id))
      .limit(1);
    if (!latest) return undefined;
    const slices = await this.db
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(eq(jobs.pipelineId, latest.pipelineId), eq(jobs.name, jobName)));
    const rows = await this.db
      .select({
        file: testResults.file,
        classname: testResults.classname,
        name: testResults.name,
        time: testResults.time,
      })
      .from(testResults)
      .where(
        inArray(
          testResults.jobId,
          slices.map((s) => s.id),
        ),
      )
      .limit(MAX_TESTS_PER_JOB);
    const out: TestTimings = { file: {}, classname: {}, testname: {} };
    const add = (into: Record<string, number>, k: string | null, t: number) => {
      if (k) into[k] = (into[k] ?? 0) + t;
    };
    for (const r of rows) {
      add(out.file, r.file, r.time);
      add(out.classname, r.classname, r.time);
      add(out.testname, r.name, r.time);
    }
    return out;
  }
}
