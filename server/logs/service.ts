// A job's log from the builder's upload to storage. Offset-addressed raw bytes go through the job's
// log pipeline (mask, parse ANSI, split lines); the resulting chunks are fanned out to live viewers
// at once, and — with the raw bytes, sealed, until their segment ends — persisted in libSQL before
// the upload is acknowledged (uploads of many jobs that arrive together share one transaction). A
// restarted server rebuilds a pipeline's state by replaying the sealed raw bytes since the job's
// last resume point (usually the unterminated last line; see resume-point.ts), so no acknowledged
// byte is ever lost.
// When the job ends the log is streamed into one blob-store object and its rows are removed
// (archive.ts): memory stays bounded whatever the log's size.
import type { InStatement, InValue, ResultSet } from "@libsql/client";
import { and, asc, desc, eq, getTableName, gte, inArray, isNull, lte } from "drizzle-orm";
import { flushChunks, type PushedChunks, pushChunksWhile } from "../../wasm/chunk-json.ts";
import type { LogLine, LogPipeline, LogPipelineOptions } from "../../wasm/types.ts";
import type { BlobStore } from "../blobs/types.ts";
import type { Db } from "../db/client.ts";
import { jobs, logChunks, logRaw } from "../db/schema.ts";
import { SEALED_COLUMNS } from "../db/sealed-columns.ts";
import { Busy, Conflict, NotFound } from "../errors.ts";
import { isTerminal } from "../job-status.ts";
import { ArchiveReader, type ArchiveStats, archiveKey, writeArchive } from "./archive.ts";
import { GarbagePacer } from "./garbage.ts";
import { LogHub } from "./hub.ts";
import { type ResumePoint, ResumeTracker } from "./resume-point.ts";

export interface LogPipelineFactory {
  create(opts?: LogPipelineOptions): LogPipeline;
}

/** Seals and opens the raw bytes kept for crash recovery (NaCl secretbox under the master key). */
export interface RawSealer {
  seal(bytes: Uint8Array, context: string): string;
  open(envelope: string, context: string): Uint8Array;
}

export interface LogServiceDeps {
  db: Db;
  factory: LogPipelineFactory;
  blobs: BlobStore;
  sealer: RawSealer;
  /** The job's secret values, registered with its pipeline for masking. */
  secretsFor?: (jobId: string) => Promise<string[]>;
  /** Byte budget of the cache of archived logs (default ARCHIVE_CACHE_BYTES). */
  archiveCacheBytes?: number;
  /** Bytes in flight (uploads admitted, their output not yet committed) past which uploads are refused (default INGEST_BUDGET_BYTES). */
  ingestBudgetBytes?: number;
  /** The runtime's full collection (RuntimeAdapter.collectGarbage): asked for by ingest and by `watchGarbage` (garbage.ts). */
  collectGarbage?: () => void;
  /** The collector's heap now (RuntimeAdapter.heapBytes), for the heap watch; default garbage.ts's. */
  heapBytes?: () => number;
  /** Upload bytes ingested between two collections (default garbage.ts's GARBAGE_BUDGET_BYTES). */
  garbageBudgetBytes?: number;
  /** Milliseconds on a monotonic clock (default performance.now), to pace the collections. */
  now?: () => number;
}

/** Where a job's log stands: its stored lines, and whether the job is over (its log then ends at `lines`). */
export interface LogProgress {
  jobId: string;
  lines: number;
  status: string;
  over: boolean;
}

export type AppendResult = { ok: true; offset: number } | { ok: false; offset: number };

type JobRow = typeof jobs.$inferSelect;
/** A builder holds a job's lease while the job runs, or is canceled and not yet finished; not once it is lost. */
const LEASED_STATUSES = ["running", "canceled"] as const;
const holdsLease = (job: JobRow, builderId: string) =>
  job.builderId === builderId && (LEASED_STATUSES as readonly string[]).includes(job.status);
/**
 * `raw`: bytes to append to the stored segment; `resume`: a resume point that replaces it;
 * `builderId`: the write applies only while this builder holds the job's lease.
 */
type PersistOpts = {
  raw?: Uint8Array;
  resume?: { point: ResumePoint; firstLine: number };
  endSegment?: boolean;
  builderId?: string;
};
/** A job's pipeline, the mirror finding its resume points, and the stored point (null: none). */
interface Live {
  pipeline: LogPipeline;
  tracker: ResumeTracker;
  point: { offset: number; prefix: Uint8Array; firstLine: number } | null;
}
interface PendingWrite extends PushedChunks {
  job: JobRow;
  end: number;
  opts: PersistOpts;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** SQL names of the tables and columns the group commit writes, from the schema. */
const T = { jobs: getTableName(jobs), logChunks: getTableName(logChunks), logRaw: getTableName(logRaw) };
const C = {
  id: jobs.id.name,
  builderId: jobs.builderId.name,
  status: jobs.status.name,
  logBytes: jobs.logBytes.name,
  logLines: jobs.logLines.name,
  segmentOffset: jobs.logSegmentOffset.name,
  segmentLines: jobs.logSegmentLines.name,
  chunkJobId: logChunks.jobId.name,
  firstLine: logChunks.firstLine.name,
  lastLine: logChunks.lastLine.name,
  body: logChunks.body.name,
  rawJobId: logRaw.jobId.name,
  rawOffset: logRaw.offset.name,
  rawFirstLine: logRaw.firstLine.name,
  rawEnvelope: logRaw.envelope.name,
};

/**
 * Writes per group commit (a bigger commit holds the thread longer: at 64 writes ~30–100 ms), chunk
 * rows per INSERT (well under SQLite's bound-parameter limit), and the least time between commits.
 */
const WRITE_BATCH = 64;
const ROWS_PER_INSERT = 200;
const COMMIT_EVERY_MS = 5;

export { archiveKey };

/**
 * Bytes in flight, at most (plus one piece's output): upload bytes admitted and not yet through,
 * and the output (chunk JSON and SSE) of pushes not yet committed. Past it an upload is told to come
 * back later (503, Retry-After) before its body is read, and an upload whose output passes it is
 * stopped after the piece that did and acknowledged up to there (the builder sends the rest again),
 * so a backlog of commits raises the builders' latency, not the server's memory. An upload's output
 * follows its lines, not its size (~3× it for test output, ~70× for nothing but empty lines);
 * at 20 MB/s of ingest ~2 MB of uploads is in flight (docs/perf.md).
 */
export const INGEST_BUDGET_BYTES = 16 * 1024 * 1024;
/**
 * Output (chunk JSON and SSE) one upload makes, at most, plus one piece's: past it the upload is
 * acknowledged up to there, as at the budget. An upload's live event is its output, written to every
 * viewer at once, and its write is one group commit's share: bounded by the budget alone, an upload of
 * empty lines made ~8 MiB of SSE in one event, past a viewer's budget (VIEWER_BUDGET_BYTES) by far, so
 * its viewer was dropped and read millions of lines from storage; and the garbage came in bursts of
 * 16 MiB (docs/perf.md, memory). Test output (~3× its size) in 1 MiB uploads is taken whole.
 */
export const UPLOAD_OUTPUT_BYTES = 4 * 1024 * 1024;
/** Bounds of the wait a refused upload is told to take. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

export class LogService {
  readonly hub = new LogHub();
  private readonly pipelines = new Map<string, Live>();
  /**
   * The job row as our last write left it, kept while its pipeline lives: an upload then needs no
   * read. If another server process wrote meanwhile, our conditional write fails and both go.
   */
  private readonly positions = new Map<string, JobRow>();
  /** Per-job promise chain: a job's uploads are processed one at a time, in order. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Archives under way, by job. */
  private readonly archiving = new Map<string, Promise<void>>();
  readonly archives: ArchiveReader;
  /** What the last archive of this process did (for tests and benchmarks). */
  lastArchive: ArchiveStats | null = null;
  /** Persists waiting for the next group commit, and the loop committing them. */
  private readonly writes: PendingWrite[] = [];
  private writing: Promise<void> | null = null;
  private lastCommit = 0;
  /** Upload bytes admitted and not yet through (see INGEST_BUDGET_BYTES). */
  private admittedBytes = 0;
  /** Output bytes (chunk JSON and SSE) of pushes not yet committed (see INGEST_BUDGET_BYTES). */
  private heldBytes = 0;
  /** The most bytes in flight (admitted and held) since the last reset (for tests and benchmarks). */
  inFlightPeak = 0;
  /** Upload bytes per millisecond the group commit has been getting through lately. */
  private commitRate = 0;
  /** See INGEST_BUDGET_BYTES; a test may lower it. */
  ingestBudget: number;
  /** When to ask the runtime for a full collection (garbage.ts); null: the runtime lends none. */
  private readonly garbage: GarbagePacer | null;

  constructor(private readonly deps: LogServiceDeps) {
    this.archives = new ArchiveReader(deps.blobs, deps.archiveCacheBytes);
    this.ingestBudget = deps.ingestBudgetBytes ?? INGEST_BUDGET_BYTES;
    const { collectGarbage: collect, heapBytes, garbageBudgetBytes: budgetBytes, now } = deps;
    this.garbage = collect ? new GarbagePacer({ collect, heapBytes, budgetBytes, now }) : null;
  }

  /** Collects garbage when the heap grows (garbage.ts), until the returned stop; nothing without collectGarbage. */
  watchGarbage(): () => void {
    return this.garbage?.watch() ?? (() => {});
  }

  /**
   * Admits an upload of `bytes` before its body is read, or throws Busy when it would take the bytes
   * in flight past the budget (with none in flight it is admitted, whatever its size).
   * The returned function ends the admission; call it once the upload is through, ok or not.
   */
  admit(bytes: number): () => void {
    const inFlight = this.admittedBytes + this.heldBytes;
    if (inFlight > 0 && inFlight + bytes > this.ingestBudget) throw this.busy();
    this.admittedBytes += bytes;
    this.inFlightPeak = Math.max(this.inFlightPeak, this.admittedBytes + this.heldBytes);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.admittedBytes -= bytes;
    };
  }

  private busy(): Busy {
    // Long enough for the commits to get through what is admitted, at their recent pace.
    const ms = this.commitRate > 0 ? this.admittedBytes / this.commitRate : RETRY_MIN_MS;
    return new Busy(
      "log commits are behind; send this upload again later",
      Math.round(Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, ms))),
      "ingest_busy",
    );
  }

  /** Upload bytes admitted and not yet through. */
  get admitted(): number {
    return this.admittedBytes;
  }

  /** Output bytes (chunk JSON and SSE) of pushes not yet committed. */
  get held(): number {
    return this.heldBytes;
  }

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

  private async job(jobId: string): Promise<JobRow> {
    const job = await this.deps.db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
    if (!job) throw new NotFound("job", jobId);
    return job;
  }

  private rawContext = (jobId: string, offset: number) => SEALED_COLUMNS.logRaw.context({ jobId, offset });

  /**
   * The job's pipeline; after a restart, rebuilt by replaying the stored raw bytes: from the resume
   * point (its prefix restores the style, pushed before the secrets so nothing in it is masked)
   * or, with none, from the segment start; then any bytes appended after it.
   */
  private async pipelineFor(job: JobRow): Promise<Live> {
    const existing = this.pipelines.get(job.id);
    if (existing) return existing;
    const secrets = (await this.deps.secretsFor?.(job.id)) ?? [];
    const rows =
      job.logBytes > job.logSegmentOffset
        ? await this.deps.db.select().from(logRaw).where(eq(logRaw.jobId, job.id)).orderBy(asc(logRaw.offset))
        : [];
    const open = (row: (typeof rows)[number]) =>
      this.deps.sealer.open(row.envelope, this.rawContext(job.id, row.offset));
    let live: Live;
    const base = rows[0]?.firstLine != null ? rows.shift()! : undefined;
    if (base) {
      const { prefix, tail } = unpackPoint(open(base));
      const pipeline = this.deps.factory.create({ firstLine: base.firstLine! });
      pipeline.push(prefix);
      for (const secret of secrets) pipeline.addSecret(secret);
      pipeline.push(tail);
      const tracker = new ResumeTracker(secrets, base.offset);
      tracker.restore(prefix, base.offset);
      tracker.scan(tail, base.offset);
      live = {
        pipeline,
        tracker,
        point: { offset: base.offset, prefix: prefix.slice(), firstLine: base.firstLine! },
      };
    } else {
      const pipeline = this.deps.factory.create({ secrets, firstLine: job.logSegmentLines + 1 });
      live = { pipeline, tracker: new ResumeTracker(secrets, job.logSegmentOffset), point: null };
    }
    // Determinism: replaying the same bytes re-emits exactly the lines already stored.
    for (const row of rows) {
      const bytes = open(row);
      live.pipeline.push(bytes);
      live.tracker.scan(bytes, row.offset);
    }
    this.pipelines.set(job.id, live);
    return live;
  }

  /**
   * Appends raw bytes that start at byte `start` of the job's log. With `builderId`, only while that
   * builder holds the job's lease: checked against the row, and again by the write itself, so an
   * upload needs no read of its own (the hot path of ingest).
   */
  append(jobId: string, start: number, bytes: Uint8Array, builderId?: string): Promise<AppendResult> {
    return this.serial(jobId, async () => {
      let job = this.positions.get(jobId) ?? (await this.job(jobId));
      if (builderId !== undefined && !holdsLease(job, builderId) && this.positions.has(jobId)) {
        this.drop(jobId); // our copy of the row may be older than the lease
        job = await this.job(jobId);
      }
      if (builderId !== undefined && !holdsLease(job, builderId))
        throw new Conflict("this builder does not hold the job's lease", undefined, "lease_lost");
      const acked = job.logBytes;
      if (start > acked) return { ok: false, offset: acked };
      if (start + bytes.length <= acked) return { ok: true, offset: acked }; // already have it all
      const live = await this.pipelineFor(job);
      // Other uploads' output took the bytes in flight past the budget since this one was admitted.
      const limit = this.ingestBudget;
      if (this.heldBytes > 0 && this.admittedBytes + this.heldBytes > limit) throw this.busy();
      // Piece by piece while the budgets last; the rest is not acknowledged, and comes again.
      const out = pushChunksWhile(
        live.pipeline,
        bytes.subarray(acked - start),
        (held) => held < UPLOAD_OUTPUT_BYTES && this.admittedBytes + this.heldBytes + held <= limit,
      );
      this.heldBytes += out.held;
      this.inFlightPeak = Math.max(this.inFlightPeak, this.admittedBytes + this.heldBytes);
      const fresh = bytes.subarray(acked - start, acked - start + out.consumed);
      const end = acked + fresh.length;
      live.tracker.scan(fresh, acked);
      const lines = out.chunks.at(-1)?.last ?? job.logLines;
      const resume = this.resumeAfter(live, acked, fresh, lines);
      try {
        await this.persist(job, out, end, resume ? { resume, builderId } : { raw: fresh, builderId });
        if (resume)
          live.point = {
            offset: resume.point.offset,
            prefix: resume.point.prefix,
            firstLine: resume.firstLine,
          };
      } catch (err) {
        // The pipeline consumed bytes that were not stored: drop it; the next call replays.
        this.drop(jobId);
        throw err;
      } finally {
        this.heldBytes -= out.held;
      }
      this.positions.set(jobId, { ...job, logBytes: end, logLines: lines });
      this.garbage?.ingested(fresh.length);
      return { ok: true, offset: end };
    });
  }

  /**
   * The resume point to store after a push: a new one if a line ended (no line can have ended
   * after it, so its replay numbers lines from `lines + 1`), else the stored one with a longer
   * tail while that stays short; null: append the bytes instead.
   */
  private resumeAfter(live: Live, acked: number, fresh: Uint8Array, lines: number): PersistOpts["resume"] {
    const point = live.tracker.point(live.point?.offset ?? -1);
    if (point) return { point, firstLine: lines + 1 };
    if (!live.point) return undefined;
    const { offset, prefix, firstLine } = live.point;
    const tail = acked === offset ? fresh : live.tracker.bytesSince(offset);
    return tail ? { point: { offset, prefix, tail }, firstLine } : undefined;
  }

  /** Ends a segment (a step): the partial last line becomes a line and the sealed raw bytes go. */
  endSegment(jobId: string): Promise<void> {
    return this.serial(jobId, async () => {
      const job = await this.job(jobId);
      if (job.logArchivedAt) return;
      if (!this.pipelines.has(jobId) && job.logBytes === job.logSegmentOffset) return;
      const flushed = flushChunks((await this.pipelineFor(job)).pipeline);
      await this.persist(job, flushed, job.logBytes, { endSegment: true });
      this.drop(jobId);
    });
  }

  /**
   * Ends the job's log: the last segment, then the result to viewers; the archive to the blob store
   * follows in the background (`archived`), since a huge log takes minutes to stream there and
   * the builder's finish call must not wait for it. Until it is done the log reads from its rows.
   */
  async finish(jobId: string, status: string): Promise<void> {
    await this.endSegment(jobId);
    const lines = (await this.job(jobId)).logLines;
    this.hub.publish(jobId, { kind: "end", status, lines });
    this.archiveLater(jobId);
  }

  private archiveLater(jobId: string): Promise<void> {
    const running = this.archiving.get(jobId);
    if (running) return running;
    const done = this.serial(jobId, () => this.archive(jobId))
      .then(() => {})
      .catch((err) => console.error(`archiving the log of job ${jobId} failed (it stays readable):`, err))
      .finally(() => this.archiving.delete(jobId));
    this.archiving.set(jobId, done);
    return done;
  }

  /** Resolves once the job's log archive (started by `finish`) is done or has failed. */
  archived(jobId: string): Promise<void> {
    return this.archiving.get(jobId) ?? Promise.resolve();
  }

  /** Resolves once every archive started so far is done or has failed: what a stop waits for. */
  async archivesSettled(): Promise<void> {
    await Promise.all(this.archiving.values());
  }

  /**
   * Archives, one at a time, the logs of ended jobs that are not archived (the server stopped while
   * archiving them); returns how many it archived.
   */
  async archiveEnded(): Promise<number> {
    const rows = await this.deps.db
      .select({ id: jobs.id, status: jobs.status })
      .from(jobs)
      .where(isNull(jobs.logArchivedAt));
    let n = 0;
    for (const row of rows) {
      if (!isTerminal(row.status) || this.pipelines.has(row.id)) continue;
      await this.archiveLater(row.id);
      n++;
    }
    return n;
  }

  /** Is this job over, and how many lines has its log? For each job that exists, in one query. */
  async progress(jobIds: readonly string[]): Promise<LogProgress[]> {
    if (jobIds.length === 0) return [];
    const rows = await this.deps.db
      .select({ id: jobs.id, lines: jobs.logLines, status: jobs.status })
      .from(jobs)
      .where(inArray(jobs.id, [...jobIds]));
    return rows.map((r) => ({ jobId: r.id, lines: r.lines, status: r.status, over: isTerminal(r.status) }));
  }

  private drop(jobId: string): void {
    this.pipelines.get(jobId)?.pipeline.dispose();
    this.pipelines.delete(jobId);
    this.positions.delete(jobId);
  }

  /**
   * Publishes one job's chunks to its viewers and persists them (and raw bytes); resolves once they
   * are committed. Writes from all jobs that arrive together share one transaction (group commit): a
   * commit per upload would cap ingest at the disk's fsync rate. Viewers do not wait for it: at
   * 20 MB/s a write waits ~100 ms for its commit (docs/perf.md). A viewer may so see lines whose
   * write then fails; the builder, not acknowledged, re-sends the same bytes, which make the same
   * lines — unless its lease was lost meanwhile, and then the job's log ends without them.
   */
  private persist(job: JobRow, out: PushedChunks, end: number, opts: PersistOpts): Promise<void> {
    if (out.live) this.hub.publishUnsettled(job.id, { kind: "chunk", ...out.live });
    return new Promise<void>((resolve, reject) => {
      this.writes.push({ job, ...out, end, opts, resolve, reject });
      this.writing ??= this.writeLoop();
    }).finally(() => this.hub.settle(job.id));
  }

  private async writeLoop(): Promise<void> {
    try {
      while (this.writes.length) {
        // Let uploads that already arrived reach the queue, so they share this commit; and commit at
        // most every COMMIT_EVERY_MS: each commit costs the thread an fsync whatever its size.
        const wait = this.lastCommit + COMMIT_EVERY_MS - performance.now();
        await new Promise((r) => (wait > 0 ? setTimeout(r, wait) : setImmediate(r)));
        this.lastCommit = performance.now();
        const batch = this.writes.splice(0, WRITE_BATCH);
        const { statements, applied } = this.commitStatements(batch);
        const began = performance.now();
        // One batch call runs start to commit without yielding: an interactive transaction would
        // hold the write lock across awaits while other requests' statements queue behind it.
        let results: ResultSet[];
        try {
          results = await this.deps.db.$client.batch(statements, "write");
        } catch (err) {
          for (const w of batch) w.reject(err);
          continue;
        }
        const bytes = batch.reduce((n, w) => n + (w.end - w.job.logBytes), 0);
        const rate = bytes / Math.max(1, performance.now() - began + COMMIT_EVERY_MS);
        this.commitRate = this.commitRate ? this.commitRate * 0.8 + rate * 0.2 : rate;
        batch.forEach((w, i) => {
          if (!applied(results, i)) {
            w.reject(new Error(`log of job ${w.job.id} moved under us (expected offset ${w.job.logBytes})`));
            return;
          }
          w.resolve();
        });
      }
    } finally {
      this.writing = null;
    }
  }

  /**
   * A commit's statements: the raw segments and the chunk rows of all its writes in shared
   * multi-row INSERTs (on this thread a statement costs more than a row), then each write's job-row
   * UPDATE. Every row and update applies only while its job row still has the offset (and lease) its
   * write started from, so a write that lost a race with another server process changes nothing
   * and its UPDATE reports no row. A commit holds at most one write per job (they are serial).
   */
  private commitStatements(batch: PendingWrite[]): {
    statements: InStatement[];
    /** Whether the batch's i-th write applied, from the statements' results. */
    applied: (results: ResultSet[], i: number) => boolean;
  } {
    const statements: InStatement[] = [];
    // Each VALUES row ends with its write's condition: offset, lines, lease holder (null: any).
    const cond = (w: PendingWrite): InValue[] => [w.job.logBytes, w.job.logLines, w.opts.builderId ?? null];
    const leased = (builder: string, table = "") =>
      `(${builder} IS NULL OR (${table}${C.builderId} = ${builder} AND ${table}${C.status} IN (${LEASED_STATUSES.map((x) => `'${x}'`).join(", ")})))`;
    const unchangedRow = (at: number) =>
      `EXISTS (SELECT 1 FROM ${T.jobs} WHERE ${C.id} = v.column1 AND ${C.logBytes} = v.column${at} ` +
      `AND ${C.logLines} = v.column${at + 1} AND ${leased(`v.column${at + 2}`)})`;
    // `text`: columns bound as UTF-8 bytes and stored as TEXT (chunk bodies are never decoded here).
    const insert = (table: string, columns: string[], rows: InValue[][], text: string[] = []) => {
      const values = columns
        .map((c, k) => (text.includes(c) ? `CAST(v.column${k + 1} AS TEXT)` : `v.column${k + 1}`))
        .join(", ");
      for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
        const part = rows.slice(i, i + ROWS_PER_INSERT);
        const row = `(${part[0].map(() => "?").join(", ")})`;
        statements.push({
          sql:
            `INSERT INTO ${table} (${columns.join(", ")}) SELECT ${values} ` +
            `FROM (VALUES ${part.map(() => row).join(", ")}) AS v WHERE ${unchangedRow(columns.length + 1)}`,
          args: part.flat(),
        });
      }
    };
    // A resume point replaces whatever the job had stored.
    const replacing = batch.filter((w) => w.opts.resume);
    for (let i = 0; i < replacing.length; i += ROWS_PER_INSERT) {
      const part = replacing.slice(i, i + ROWS_PER_INSERT);
      statements.push({
        sql:
          `DELETE FROM ${T.logRaw} WHERE ${C.rawJobId} IN (SELECT v.column1 FROM (VALUES ` +
          `${part.map(() => "(?, ?, ?, ?)").join(", ")}) AS v WHERE ${unchangedRow(2)})`,
        args: part.flatMap((w) => [w.job.id, ...cond(w)]),
      });
    }
    insert(
      T.logRaw,
      [C.rawJobId, C.rawOffset, C.rawFirstLine, C.rawEnvelope],
      batch.flatMap((w): InValue[][] => {
        const { raw, resume } = w.opts;
        const [offset, firstLine, bytes] = resume
          ? [resume.point.offset, resume.firstLine, packPoint(resume.point)]
          : [w.job.logBytes, null, raw];
        if (!bytes) return [];
        const envelope = this.deps.sealer.seal(bytes, this.rawContext(w.job.id, offset));
        return [[w.job.id, offset, firstLine, envelope, ...cond(w)]];
      }),
    );
    insert(
      T.logChunks,
      [C.chunkJobId, C.firstLine, C.lastLine, C.body],
      batch.flatMap((w) => w.chunks.map((c) => [w.job.id, c.first, c.last, c.body, ...cond(w)])),
      [C.body],
    );
    const linesOf = (w: PendingWrite) =>
      w.chunks.length ? w.chunks[w.chunks.length - 1].last : w.job.logLines;
    // Appends move their job rows in one UPDATE … FROM (VALUES …); RETURNING names the rows it moved.
    const moves = batch.filter((w) => !w.opts.endSegment);
    let moved: number | undefined;
    if (moves.length) {
      statements.push({
        sql:
          `UPDATE ${T.jobs} SET ${C.logBytes} = v.column2, ${C.logLines} = v.column3 FROM (VALUES ` +
          `${moves.map(() => "(?, ?, ?, ?, ?, ?)").join(", ")}) AS v WHERE ${T.jobs}.${C.id} = v.column1 ` +
          `AND ${T.jobs}.${C.logBytes} = v.column4 AND ${T.jobs}.${C.logLines} = v.column5 ` +
          `AND ${leased("v.column6", `${T.jobs}.`)} RETURNING ${T.jobs}.${C.id}`,
        args: moves.flatMap((w) => [w.job.id, w.end, linesOf(w), ...cond(w)]),
      });
      moved = statements.length - 1;
    }
    // Segment ends (rare) one by one: they also drop the stored raw bytes.
    const ends = new Map<PendingWrite, number>();
    for (const w of batch.filter((w) => w.opts.endSegment)) {
      const { job, end } = w;
      const lines = linesOf(w);
      const holder = w.opts.builderId !== undefined ? ` AND ${C.builderId} = ?` : "";
      const where = `${C.id} = ? AND ${C.logBytes} = ? AND ${C.logLines} = ?${holder}`;
      const args = [
        job.id,
        job.logBytes,
        job.logLines,
        ...(w.opts.builderId !== undefined ? [w.opts.builderId] : []),
      ];
      statements.push({
        sql: `DELETE FROM ${T.logRaw} WHERE ${C.rawJobId} = ? AND EXISTS (SELECT 1 FROM ${T.jobs} WHERE ${where})`,
        args: [job.id, ...args],
      });
      statements.push({
        sql:
          `UPDATE ${T.jobs} SET ${C.logBytes} = ?, ${C.logLines} = ?, ${C.segmentOffset} = ${end}, ` +
          `${C.segmentLines} = ${lines} WHERE ${where}`,
        args: [end, lines, ...args],
      });
      ends.set(w, statements.length - 1);
    }
    const applied = (results: ResultSet[], i: number) => {
      const w = batch[i];
      const at = ends.get(w);
      if (at !== undefined) return results[at].rowsAffected === 1;
      return results[moved!].rows.some((row) => row[0] === w.job.id);
    };
    return { statements, applied };
  }

  /** Streams the job's chunks into the blob store (archive.ts), then removes the rows. */
  private async archive(jobId: string): Promise<number> {
    const job = await this.job(jobId);
    if (job.logArchivedAt) return job.logLines;
    this.lastArchive = await writeArchive(this.deps.db, this.deps.blobs, jobId);
    await this.deps.db.transaction(async (tx) => {
      await tx.update(jobs).set({ logArchivedAt: Date.now() }).where(eq(jobs.id, jobId));
      await tx.delete(logChunks).where(eq(logChunks.jobId, jobId));
      await tx.delete(logRaw).where(eq(logRaw.jobId, jobId));
    });
    return job.logLines;
  }

  private async readStoredLines(jobId: string, after: number, limit: number): Promise<LogLine[]> {
    // The chunk holding line after+1 is the last to start at or before it: found by a seek on the
    // index, so the range below starts there. With only an upper bound on first_line the range
    // visited every chunk of the job before the page, on every page (docs/perf.md, memory).
    const [start] = await this.deps.db
      .select({ first: logChunks.firstLine })
      .from(logChunks)
      .where(and(eq(logChunks.jobId, jobId), lte(logChunks.firstLine, after + 1)))
      .orderBy(desc(logChunks.firstLine))
      .limit(1);
    const rows = await this.deps.db
      .select({ body: logChunks.body })
      .from(logChunks)
      // Lines are numbered without gaps, so no chunk past line after+limit is needed.
      .where(
        and(
          eq(logChunks.jobId, jobId),
          gte(logChunks.firstLine, start?.first ?? 0),
          gte(logChunks.lastLine, after + 1),
          lte(logChunks.firstLine, Math.min(after + limit, Number.MAX_SAFE_INTEGER)),
        ),
      )
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

  /** Lines numbered after `after`, at most `limit` of them, in order — the same before and after archiving. */
  async readLines(jobId: string, after: number, limit = 10_000): Promise<LogLine[]> {
    const job = await this.job(jobId);
    if (!job.logArchivedAt) {
      const lines = await this.readStoredLines(jobId, after, limit);
      // The archive may have removed the rows while we read them: then read the archive.
      if (lines.length >= limit || !(await this.job(jobId)).logArchivedAt) return lines;
    }
    return this.archives.readLines(jobId, after, limit);
  }

  /** Every line after `after`, a page at a time, so a log of any size streams without being held. */
  async *pages(jobId: string, after: number, pageLines = 5000): AsyncGenerator<LogLine[]> {
    let sent = after;
    for (;;) {
      const job = await this.job(jobId);
      if (job.logArchivedAt) {
        for await (const page of this.archives.pages(jobId, sent)) yield page;
        return;
      }
      const lines = await this.readStoredLines(jobId, sent, pageLines);
      if (lines.length === 0) {
        // Archived between our reads: the rest is in the archive.
        if ((await this.job(jobId)).logArchivedAt) continue;
        return;
      }
      sent = lines[lines.length - 1].n;
      yield lines;
    }
  }

  async lineCount(jobId: string): Promise<number> {
    return (await this.job(jobId)).logLines;
  }
}

/** A resume point's sealed bytes: the prefix's length (4 bytes, big-endian), the prefix, the tail. */
function packPoint({ prefix, tail }: ResumePoint): Uint8Array {
  const out = new Uint8Array(4 + prefix.length + tail.length);
  new DataView(out.buffer).setUint32(0, prefix.length);
  out.set(prefix, 4);
  out.set(tail, 4 + prefix.length);
  return out;
}

function unpackPoint(bytes: Uint8Array): { prefix: Uint8Array; tail: Uint8Array } {
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  return { prefix: bytes.subarray(4, 4 + n), tail: bytes.subarray(4 + n) };
}
