// Insights: how a project's builds trend, per project, per workflow and per job (CircleCI's Insights,
// Buildkite's Test Analytics). A run is a workflow run (project and workflow scope) or a job attempt,
// each slice its own run (job scope), that finished `success` or `failed`: canceled, lost and not-run
// jobs say nothing about the build. Durations: a workflow from its first job's start to its last
// job's end; a job from its start to its end. Flaky tests failed and passed on one commit.
import { and, eq, gte, inArray, lt, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { jobs, pipelines, testResults, workflows } from "../db/schema.ts";

export interface InsightsScope {
  projectId: string;
  /** A workflow name; with `job`, a job name in it. Neither: the whole project. */
  workflow?: string;
  job?: string;
  /** Window [from, to) in ms since the epoch, cut into buckets of `bucketMs`. */
  from: number;
  to: number;
  bucketMs: number;
}

interface Run {
  name: string;
  at: number;
  ok: boolean;
  ms: number | null;
}

export interface Stats {
  runs: number;
  successes: number;
  failures: number;
  /** successes / runs; null without runs. */
  success_rate: number | null;
  duration_ms: { p50: number | null; p95: number | null; max: number | null };
}

export interface Bucket extends Stats {
  start: string;
}

export interface ScopeInsights {
  scope: { workflow: string | null; job: string | null };
  window: { from: string; to: string; bucket: "hour" | "day" };
  summary: Stats;
  series: Bucket[];
  /** The next scope down: workflows of the project, jobs of a workflow; empty for a job. */
  breakdown: ({ name: string } & Stats)[];
}

export interface SlowTest {
  classname: string;
  name: string;
  file: string | null;
  runs: number;
  mean_s: number;
  max_s: number;
}

export interface FlakyTest {
  classname: string;
  name: string;
  file: string | null;
  runs: number;
  passed: number;
  failed: number;
  /** failed / runs over the window. */
  failure_rate: number;
  /** Commits on which the test both failed and passed. */
  flaky_commits: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

export function stats(runs: Run[]): Stats {
  const successes = runs.filter((r) => r.ok).length;
  const ms = runs
    .map((r) => r.ms)
    .filter((m): m is number => m !== null)
    .sort((a, b) => a - b);
  return {
    runs: runs.length,
    successes,
    failures: runs.length - successes,
    success_rate: runs.length ? successes / runs.length : null,
    duration_ms: { p50: percentile(ms, 50), p95: percentile(ms, 95), max: ms.at(-1) ?? null },
  };
}

const VERDICTS = ["success", "failed"] as const;
const iso = (ms: number) => new Date(ms).toISOString();

export class InsightsService {
  constructor(private readonly db: Db) {}

  async scope(s: InsightsScope): Promise<ScopeInsights> {
    const runs = s.job ? await this.jobRuns(s, s.job) : await this.workflowRuns(s);
    const breakdownRuns = s.job ? [] : s.workflow ? await this.jobRuns(s) : runs;
    const byName = new Map<string, Run[]>();
    for (const r of breakdownRuns) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
    const series: Bucket[] = [];
    const first = Math.floor(s.from / s.bucketMs) * s.bucketMs;
    for (let t = first; t < s.to; t += s.bucketMs) {
      series.push({ start: iso(t), ...stats(runs.filter((r) => r.at >= t && r.at < t + s.bucketMs)) });
    }
    return {
      scope: { workflow: s.workflow ?? null, job: s.job ?? null },
      window: { from: iso(s.from), to: iso(s.to), bucket: s.bucketMs < 86_400_000 ? "hour" : "day" },
      summary: stats(runs),
      series,
      breakdown: [...byName]
        .map(([name, rs]) => ({ name, ...stats(rs) }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    };
  }

  /** Finished workflow runs of the project (or of one workflow name), by creation time. */
  private async workflowRuns(s: InsightsScope): Promise<Run[]> {
    const rows = await this.db
      .select({
        name: workflows.name,
        status: workflows.status,
        at: workflows.createdAt,
        started: sql<number | null>`min(${jobs.startedAt})`,
        finished: sql<number | null>`max(${jobs.finishedAt})`,
      })
      .from(workflows)
      .innerJoin(pipelines, eq(pipelines.id, workflows.pipelineId))
      .leftJoin(jobs, eq(jobs.workflowId, workflows.id))
      .where(
        and(
          eq(pipelines.projectId, s.projectId),
          gte(workflows.createdAt, s.from),
          lt(workflows.createdAt, s.to),
          inArray(workflows.status, [...VERDICTS]),
          s.workflow ? eq(workflows.name, s.workflow) : undefined,
        ),
      )
      .groupBy(workflows.id);
    return rows.map((r) => ({
      name: r.name,
      at: r.at,
      ok: r.status === "success",
      ms: r.started !== null && r.finished !== null ? Math.max(0, r.finished - r.started) : null,
    }));
  }

  /** Finished job attempts of the scope's workflow (all of them, or those named `job`), by end time. */
  private async jobRuns(s: InsightsScope, job?: string): Promise<Run[]> {
    const rows = await this.db
      .select({ name: jobs.name, status: jobs.status, started: jobs.startedAt, finished: jobs.finishedAt })
      .from(jobs)
      .innerJoin(workflows, eq(workflows.id, jobs.workflowId))
      .where(
        and(
          eq(jobs.projectId, s.projectId),
          gte(jobs.finishedAt, s.from),
          lt(jobs.finishedAt, s.to),
          inArray(jobs.status, [...VERDICTS]),
          s.workflow ? eq(workflows.name, s.workflow) : undefined,
          job ? eq(jobs.name, job) : undefined,
        ),
      );
    return rows.map((r) => ({
      name: r.name,
      at: r.finished ?? 0,
      ok: r.status === "success",
      ms: r.started !== null && r.finished !== null ? Math.max(0, r.finished - r.started) : null,
    }));
  }

  /** The slowest tests by mean time, and the flaky ones, in the scope's jobs that ended in the window. */
  async tests(s: InsightsScope, limit = 10): Promise<{ slowest: SlowTest[]; flaky: FlakyTest[] }> {
    const rows = await this.db
      .select({
        classname: testResults.classname,
        name: testResults.name,
        file: sql<string | null>`max(${testResults.file})`,
        sha: pipelines.sha,
        runs: sql<number>`count(*)`,
        passed: sql<number>`sum(case when ${testResults.status} = 'passed' then 1 else 0 end)`,
        failed: sql<number>`sum(case when ${testResults.status} in ('failed', 'error') then 1 else 0 end)`,
        time: sql<number>`sum(${testResults.time})`,
        max: sql<number>`max(${testResults.time})`,
      })
      .from(testResults)
      .innerJoin(jobs, eq(jobs.id, testResults.jobId))
      .innerJoin(workflows, eq(workflows.id, jobs.workflowId))
      .innerJoin(pipelines, eq(pipelines.id, jobs.pipelineId))
      .where(
        and(
          eq(testResults.projectId, s.projectId),
          gte(jobs.finishedAt, s.from),
          lt(jobs.finishedAt, s.to),
          sql`${testResults.status} <> 'skipped'`,
          s.workflow ? eq(workflows.name, s.workflow) : undefined,
          s.job ? eq(jobs.name, s.job) : undefined,
        ),
      )
      .groupBy(testResults.classname, testResults.name, pipelines.sha);
    const tests = new Map<string, SlowTest & FlakyTest & { time: number }>();
    for (const r of rows) {
      const key = `${r.classname}\u0000${r.name}`;
      const t = tests.get(key) ?? {
        classname: r.classname,
        name: r.name,
        file: r.file,
        runs: 0,
        passed: 0,
        failed: 0,
        time: 0,
        mean_s: 0,
        max_s: 0,
        failure_rate: 0,
        flaky_commits: 0,
      };
      t.runs += Number(r.runs);
      t.passed += Number(r.passed);
      t.failed += Number(r.failed);
      t.time += Number(r.time);
      t.max_s = Math.max(t.max_s, Number(r.max));
      if (Number(r.passed) > 0 && Number(r.failed) > 0) t.flaky_commits++;
      tests.set(key, t);
    }
    const all = [...tests.values()].map((t) => ({
      ...t,
      mean_s: t.runs ? t.time / t.runs : 0,
      failure_rate: t.runs ? t.failed / t.runs : 0,
    }));
    const slowest = [...all]
      .sort((a, b) => b.mean_s - a.mean_s || a.name.localeCompare(b.name))
      .slice(0, limit)
      .map(({ classname, name, file, runs, mean_s, max_s }) => ({
        classname,
        name,
        file,
        runs,
        mean_s,
        max_s,
      }));
    const flaky = all
      .filter((t) => t.flaky_commits > 0)
      .sort((a, b) => b.failure_rate - a.failure_rate || b.runs - a.runs || a.name.localeCompare(b.name))
      .slice(0, limit)
      .map(({ classname, name, file, runs, passed, failed, failure_rate, flaky_commits }) => ({
        classname,
        name,
        file,
        runs,
        passed,
        failed,
        failure_rate,
        flaky_commits,
      }));
    return { slowest, flaky };
  }
}
