// The one follower, read through both transports on a real libSQL file: SSE and the sequence the
// WebSocket route sends carry the same lines from the same point, then the same result; a reader
// that stops reading is dropped without holding up the log.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { loadLogPipeline } from "../../wasm/index.ts";
import { createFsBlobStore } from "../blobs/fs.ts";
import { jobs } from "../db/schema.ts";
import { type FollowEvent, followLog, HELD_BYTES, LogFollower } from "./follow.ts";
import type { LogEvent } from "./hub.ts";
import type { LogPipelineFactory } from "./service.ts";
import { logSse } from "./sse.ts";
import { logServiceFixture, removeLogFixtures } from "./testing.ts";

let factory: LogPipelineFactory;
const enc = new TextEncoder();
beforeAll(async () => {
  factory = await loadLogPipeline();
});
afterAll(removeLogFixtures);

const setup = async () => {
  const fx = await logServiceFixture({
    factory,
    blobs: () => createFsBlobStore(mkdtempSync(join(tmpdir(), "b-"))),
  });
  return { ...fx, svc: fx.make() };
};

/** Everything an SSE body says, as `n text` lines and `end status`. */
async function sseRead(body: ReadableStream<Uint8Array>): Promise<string[]> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const part of body) text += decoder.decode(part, { stream: true });
  const out: string[] = [];
  for (const m of text.matchAll(/event: (line|end)\ndata: (.*)\n(?:id: (\d+)\n)?/g))
    out.push(m[1] === "line" ? `${m[3]} ${m[2]}` : `end ${JSON.parse(m[2]).status}`);
  return out;
}

/** The same for the WebSocket route's sequence. */
async function wsRead(events: AsyncIterable<FollowEvent>): Promise<string[]> {
  const out: string[] = [];
  for await (const ev of events) {
    if (ev.kind === "lines") for (const l of ev.lines) out.push(`${l.n} ${l.text}`);
    else if (ev.kind === "end") out.push(`end ${ev.status}`);
  }
  return out;
}

test("SSE and the WebSocket sequence say the same: stored lines from `after`, live ones, then the result", async () => {
  const { db, svc, jobId } = await setup();
  await svc.append(jobId, 0, enc.encode("one\ntwo\n"));
  const abort = new AbortController();
  const sse = sseRead(logSse(db, svc, jobId, 1, { pingMs: 60_000 }));
  const ws = wsRead(followLog(db, svc, jobId, 1, { pingMs: 60_000, signal: abort.signal }));
  await svc.append(jobId, 8, enc.encode("three\nfour"));
  await db.update(jobs).set({ status: "success" }).where(eq(jobs.id, jobId));
  await svc.finish(jobId, "success");
  const expected = ["2 two", "3 three", "4 four", "end success"];
  expect(await sse).toEqual(expected);
  expect(await ws).toEqual(expected);
  // A viewer arriving after the end reads it all from storage, then the result.
  expect(await sseRead(logSse(db, svc, jobId, 0, { pingMs: 60_000 }))).toEqual(["1 one", ...expected]);
  expect(await wsRead(followLog(db, svc, jobId, 3, { pingMs: 60_000, signal: abort.signal }))).toEqual([
    "4 four",
    "end success",
  ]);
});

test("a WebSocket reader that stops reading is dropped: what it had, then no result, and ingest went on", async () => {
  const { db, svc, jobId } = await setup();
  const abort = new AbortController();
  const events = followLog(db, svc, jobId, 0, { pingMs: 60_000, signal: abort.signal, queueLimit: 2 });
  // Reading nothing yet: the follower reads storage (empty) and waits for live lines.
  const first = events.next();
  let offset = 0;
  for (let i = 1; i <= 5; i++) {
    const r = await svc.append(jobId, offset, enc.encode(`line ${i}\n`));
    offset = r.offset;
  }
  expect(offset).toBe(35);
  const rest: string[] = [];
  const head = await first;
  for (const ev of [head.value, ...(await Array.fromAsync(events))] as FollowEvent[])
    if (ev.kind === "lines") rest.push(...ev.lines.map((l) => String(l.n)));
    else rest.push(ev.kind);
  expect(rest).not.toContain("end");
  // In order, with no duplicate: the client resumes from the last line it got.
  expect(rest).toEqual(rest.map((_, i) => String(i + 1)));
  expect(rest.length).toBeLessThan(5);
});

test("a live chunk's lines are parsed only for a transport that needs them: never for SSE given the rendered events", async () => {
  const { db, svc, jobId } = await setup();
  await svc.append(jobId, 0, enc.encode("one\n"));
  const abort = new AbortController();
  const sse = sseRead(logSse(db, svc, jobId, 1, { pingMs: 60_000 }));
  const ws = wsRead(followLog(db, svc, jobId, 1, { pingMs: 60_000, signal: abort.signal }));
  // A live chunk as the service publishes it: lines parsed on first read, and their SSE rendered.
  let reads = 0;
  const lines = [{ n: 2, text: "two", spans: [] }];
  svc.hub.publish(jobId, {
    kind: "chunk",
    chunk: {
      first: 2,
      last: 2,
      get lines() {
        reads++;
        return lines;
      },
    },
    sse: enc.encode("event: line\ndata: two\nid: 2\n\n"),
  });
  svc.hub.publish(jobId, { kind: "end", status: "success", lines: 2 });
  expect(await sse).toEqual(["2 two", "end success"]);
  expect(await ws).toEqual(["2 two", "end success"]);
  // The WebSocket sequence needed the lines (one read); SSE wrote the rendered bytes as they were.
  expect(reads).toBe(1);
});

test("a catch-up of many stored pages lets timers run between pages, however fast the client reads", async () => {
  const { svc, jobId } = await setup();
  const lines = 10 * 5000; // ten of the follower's pages
  await svc.append(jobId, 0, enc.encode("x\n".repeat(lines)));
  const pages: number[] = [];
  let pagesWhenTimerRan = -1;
  let follower: LogFollower | undefined;
  await new Promise<void>((resolve, reject) => {
    follower = new LogFollower(svc, jobId, 0, {
      lines(batch) {
        pages.push(batch.lines.length);
        if (pages.reduce((a, b) => a + b, 0) === lines) resolve();
      },
      end: () => {},
      // A client that has always read everything already: no wait of its own.
      drained: async () => {},
      behind: () => false,
      stopped: (err) => err && reject(err),
    });
    follower.start();
    setTimeout(() => {
      pagesWhenTimerRan = pages.length;
    }, 0);
  });
  follower?.close();
  expect(pages.length).toBe(10);
  // Before, the whole catch-up ran in promise callbacks and the timer waited for its end.
  expect(pagesWhenTimerRan).toBeGreaterThanOrEqual(0);
  expect(pagesWhenTimerRan).toBeLessThan(pages.length);
});

test("live output while a slow client reads stored pages is held within HELD_BYTES, then read from storage: every line once", async () => {
  const { db, svc, jobId } = await setup();
  await svc.append(jobId, 0, enc.encode("x\n".repeat(12_000)));
  let offset = 24_000;
  let release = () => {};
  const client = new Promise<void>((r) => {
    release = r;
  });
  const got: number[] = [];
  let ended = "";
  let stops = 0;
  let held: () => LogEvent[] = () => [];
  const done = new Promise<void>((resolve) => {
    const follower = new LogFollower(svc, jobId, 0, {
      lines(batch) {
        for (const l of batch.lines) got.push(l.n);
      },
      end(status) {
        ended = status;
      },
      // The client takes its time over the first page.
      drained: () => client,
      behind: () => false,
      stopped: () => {
        stops++;
        resolve();
      },
    });
    follower.start();
    held = () => (follower as unknown as { held: LogEvent[] | null }).held ?? [];
  });
  // Meanwhile the job prints empty lines: each upload's output (~1.6 MB of JSON and SSE) is past the budget alone.
  let mostHeld = 0;
  for (let i = 0; i < 8; i++) {
    const out = await svc.append(jobId, offset, new Uint8Array(24 * 1024).fill(0x0a));
    offset = out.offset;
    const bytes = held().reduce((n, e) => n + (e.kind === "chunk" ? (e.bytes ?? 0) : 0), 0);
    mostHeld = Math.max(mostHeld, bytes);
  }
  expect(got.length).toBe(5000); // the first page, still with the client
  release();
  await db.update(jobs).set({ status: "success" }).where(eq(jobs.id, jobId));
  await svc.finish(jobId, "success");
  await done;
  expect(mostHeld).toBeLessThanOrEqual(HELD_BYTES);
  expect(ended).toBe("success");
  expect(stops).toBe(1);
  const total = 12_000 + 8 * 24 * 1024;
  expect(got.length).toBe(total);
  expect(got.every((n, i) => n === i + 1)).toBe(true);
});
