// In-process fanout of a job's log chunks and its end to live viewers. Each viewer has a bounded
// queue: one that falls behind is dropped (its client resumes from its last line id) so it can
// never slow ingestion or other viewers.
// A chunk is published as soon as the pipeline made it, while its write waits for the next group
// commit (the ack to the builder waits for that commit): it stays the job's unsettled chunk until
// the commit ends, and a viewer subscribing meanwhile is handed it, since its storage read cannot
// see it yet. Viewers drop lines they already have, so a chunk published again after a failed
// commit (the builder re-sends the same bytes; the replayed pipeline makes the same lines) is
// harmless.
import type { LogChunk } from "../../wasm/types.ts";

/** `lines` on an end event: the log's line count, when known, so a viewer that has them all reads nothing more. */
export type LogEvent =
  /**
   * `sse`: the chunk's lines as SSE `line` events, when the pipeline rendered them (sse.ts, sseLines);
   * `bytes`: what the event holds (the chunk's JSON and the SSE), when known.
   */
  | { kind: "chunk"; chunk: LogChunk; sse?: Uint8Array; bytes?: number }
  | { kind: "end"; status: string; lines?: number };

export interface Viewer {
  /** Delivers an event; returns false when the viewer's queue is full and it was dropped. */
  deliver(event: LogEvent): void;
}

export class LogHub {
  private readonly viewers = new Map<string, Set<Viewer>>();
  /** Per watched job: the last line its viewers have (published here or read from storage), and whether it ended. */
  private readonly progress = new Map<string, { line: number; ended: boolean }>();
  /** Per job: the chunk published while its write waits for its commit (a job has one write at a time). */
  private readonly unsettled = new Map<string, LogEvent>();

  /** Adds a viewer; it is handed the job's unsettled chunk at once, then every event published. */
  subscribe(jobId: string, viewer: Viewer): () => void {
    let set = this.viewers.get(jobId);
    if (!set) {
      set = new Set();
      this.viewers.set(jobId, set);
    }
    set.add(viewer);
    const pending = this.unsettled.get(jobId);
    if (pending) viewer.deliver(pending);
    return () => {
      const s = this.viewers.get(jobId);
      if (!s) return;
      s.delete(viewer);
      if (s.size === 0) {
        this.viewers.delete(jobId);
        this.progress.delete(jobId);
      }
    };
  }

  /** A viewer has read the job's stored lines up to `line`: later ones must reach it live. */
  noteRead(jobId: string, line: number): void {
    if (this.viewers.has(jobId) && !this.progress.has(jobId))
      this.progress.set(jobId, { line, ended: false });
  }

  /** Jobs with viewers here, and how far they have been served (see replica-watch.ts). */
  watched(): Map<string, { line: number; ended: boolean }> {
    return this.progress;
  }

  publish(jobId: string, event: LogEvent): void {
    const p = this.progress.get(jobId);
    if (p) {
      if (event.kind === "end") p.ended = true;
      else p.line = Math.max(p.line, event.chunk.last);
    }
    const set = this.viewers.get(jobId);
    if (!set) return;
    for (const v of set) v.deliver(event);
  }

  /** The job's unsettled chunk, if one is waiting for its commit (what `subscribe` hands a new viewer). */
  pending(jobId: string): LogEvent | undefined {
    return this.unsettled.get(jobId);
  }

  /** Publishes a chunk whose write is not committed yet; it is the job's unsettled chunk until `settle`. */
  publishUnsettled(jobId: string, event: LogEvent & { kind: "chunk" }): void {
    this.unsettled.set(jobId, event);
    this.publish(jobId, event);
  }

  /** The job's unsettled chunk was committed (stored lines now hold it) or its write failed. */
  settle(jobId: string): void {
    this.unsettled.delete(jobId);
  }

  viewerCount(jobId: string): number {
    return this.viewers.get(jobId)?.size ?? 0;
  }
}
