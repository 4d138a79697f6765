// A viewer that reads nothing costs the server at most its byte budget (VIEWER_BUDGET_BYTES) while a
// job prints far more; past it the viewer is dropped, and resuming from its last event id it gets
// every line exactly once. Proved in bytes, on a real libSQL file: once on the SSE stream itself,
// once over HTTP on loopback with a raw socket that stops reading (Bun's response takes what the
// stream gives it, so the budget must hold there too), and once over a WebSocket whose client stops
// reading.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { loadLogPipeline } from "../../wasm/index.ts";
import { createFsBlobStore } from "../blobs/fs.ts";
import { jobs } from "../db/schema.ts";
import { followLog } from "./follow.ts";
import type { LogPipelineFactory, LogService } from "./service.ts";
import { logSse, sseQueuedBytes, VIEWER_BUDGET_BYTES } from "./sse.ts";
import { logServiceFixture, removeLogFixtures } from "./testing.ts";

let factory: LogPipelineFactory;
const enc = new TextEncoder();
const dec = new TextDecoder();
const blobDirs: string[] = [];
beforeAll(async () => {
  factory = await loadLogPipeline();
});
afterAll(() => {
  removeLogFixtures();
  for (const d of blobDirs) rmSync(d, { recursive: true, force: true });
});

const setup = async () => {
  const fx = await logServiceFixture({
    factory,
    blobs: () => {
      const dir = mkdtempSync(join(tmpdir(), "cairn-budget-blobs-"));
      blobDirs.push(dir);
      return createFsBlobStore(dir);
    },
  });
  return { ...fx, svc: fx.make() };
};

/** `count` lines of ~100 bytes from line `from`, as one upload. */
const block = (from: number, count: number) => {
  let s = "";
  for (let i = from; i < from + count; i++) s += `line ${i} ${"x".repeat(90)}\n`;
  return enc.encode(s);
};

/** Complete SSE `line` events in `text`, as [id, text]. */
function sseLines(text: string): [number, string][] {
  const out: [number, string][] = [];
  for (const m of text.matchAll(/event: line\ndata: (.*)\nid: (\d+)\n\n/g)) out.push([Number(m[2]), m[1]]);
  return out;
}

/** Prints `lines` lines in uploads of `per`, checking `check` after each; returns the log's offset. */
async function print(svc: LogService, jobId: string, lines: number, per: number, check: () => void) {
  let offset = 0;
  for (let n = 1; n <= lines; n += per) {
    offset = (await svc.append(jobId, offset, block(n, per))).offset;
    check();
  }
  return offset;
}

/** The result of reading the rest of the job's log from `after` until its end, as SSE lines. */
async function resume(svc: LogService, db: Parameters<typeof logSse>[0], jobId: string, after: number) {
  let text = "";
  for await (const part of logSse(db, svc, jobId, after, { pingMs: 60_000 })) text += dec.decode(part);
  expect(text).toContain('event: end\ndata: {"status":"success"}');
  return sseLines(text);
}

const finish = async (svc: LogService, db: Parameters<typeof logSse>[0], jobId: string) => {
  await db.update(jobs).set({ status: "success" }).where(eq(jobs.id, jobId));
  await svc.finish(jobId, "success");
};

/** Every line 1..n once, in order. */
const expectAll = (got: [number, string][], n: number) => {
  expect(got.length).toBe(n);
  got.forEach(([id, text], i) => {
    expect(id).toBe(i + 1);
    expect(text).toBe(`line ${i + 1} ${"x".repeat(90)}`);
  });
};

/**
 * The lines a dropped viewer got (`first`: fewer than all), then the job ends and a viewer resuming
 * after its last line gets the rest: every line 1..n once, in order.
 */
async function expectResumed(
  svc: LogService,
  db: Parameters<typeof logSse>[0],
  jobId: string,
  first: [number, string][],
  n: number,
) {
  const last = first.at(-1)?.[0] ?? 0;
  expect(last).toBeLessThan(n);
  await finish(svc, db, jobId);
  expectAll([...first, ...(await resume(svc, db, jobId, last))], n);
}

/** One upload of the test, rendered as SSE: the most a viewer can be past its budget before the check. */
const BATCH = 200 * 130;

test("an SSE stream nobody reads holds at most its budget, is dropped, and resumes with every line once", async () => {
  const { db, svc, jobId } = await setup();
  await svc.append(jobId, 0, block(1, 1));
  const body = logSse(db, svc, jobId, 0, { pingMs: 60_000 });
  const reader = body.getReader();
  let text = "";
  // Read until the first line came: the viewer is following live.
  while (!text.includes("id: 1\n\n")) text += dec.decode((await reader.read()).value);
  const base = sseQueuedBytes();
  let most = 0;
  // 8 MB printed, 32× the budget, while the viewer reads nothing.
  const lines = 80_000;
  await print(svc, jobId, lines - 1, 200, () => {
    most = Math.max(most, sseQueuedBytes() - base);
  }).catch(() => {});
  expect(most).toBeGreaterThan(0);
  expect(most).toBeLessThanOrEqual(VIEWER_BUDGET_BYTES + BATCH);
  // Dropped: the hub no longer delivers to it, and what it held was let go.
  expect(svc.hub.viewerCount(jobId)).toBe(0);
  expect(sseQueuedBytes()).toBe(base);
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += dec.decode(r.value);
  expect(text).not.toContain("event: end");
  await expectResumed(svc, db, jobId, sseLines(text), lines);
});

/** An HTTP/1.1 GET over a raw socket; `body()` de-chunks what was read so far. */
function rawGet(port: number, path: string) {
  const sock: Socket = connect(port, "127.0.0.1");
  const parts: Buffer[] = [];
  sock.on("data", (d: Buffer) => parts.push(d));
  const ended = new Promise<void>((resolve) => sock.on("close", () => resolve()));
  sock.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
  return {
    sock,
    ended,
    received: () => parts.reduce((n, p) => n + p.length, 0),
    body(): string {
      const raw = Buffer.concat(parts);
      let at = raw.indexOf("\r\n\r\n") + 4;
      const out: Buffer[] = [];
      for (;;) {
        const eol = raw.indexOf("\r\n", at);
        if (eol < 0) break;
        const size = Number.parseInt(raw.subarray(at, eol).toString(), 16);
        if (!(size > 0) || eol + 2 + size > raw.length) break;
        out.push(raw.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
      }
      return dec.decode(Buffer.concat(out));
    },
  };
}

test("over HTTP, a client that stops reading its socket costs the server at most its budget, and resumes with every line once", async () => {
  const { db, svc, jobId } = await setup();
  await svc.append(jobId, 0, block(1, 1));
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () =>
      new Response(logSse(db, svc, jobId, 0, { pingMs: 60_000 }), {
        headers: { "content-type": "text/event-stream" },
      }),
  });
  try {
    const client = rawGet(server.port!, "/");
    // Following live once its first line came; then it stops reading (the kernel's buffers fill).
    while (!client.body().includes("id: 1\n\n")) await new Promise((r) => client.sock.once("data", r));
    client.sock.pause();
    const base = sseQueuedBytes();
    let most = 0;
    // 40 MB printed: more than the kernel's socket buffers take (tcp_wmem ≤ 4 MiB plus the client's).
    const lines = 400_000;
    await print(svc, jobId, lines - 1, 200, () => {
      most = Math.max(most, sseQueuedBytes() - base);
    });
    expect(most).toBeLessThanOrEqual(VIEWER_BUDGET_BYTES + BATCH);
    expect(svc.hub.viewerCount(jobId)).toBe(0);
    client.sock.resume();
    await client.ended;
    const text = client.body();
    expect(text).not.toContain("event: end");
    await expectResumed(svc, db, jobId, sseLines(text), lines);
  } finally {
    server.stop(true);
  }
});

test("a WebSocket whose client stops reading is dropped past its budget of unsent bytes, and resumes with every line once", async () => {
  const { db, svc, jobId } = await setup();
  await svc.append(jobId, 0, block(1, 1));
  let most = 0;
  let closeCode = 0;
  const server = Bun.serve<{ after: number }>({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) =>
      srv.upgrade(req, { data: { after: 0 } }) ? undefined : new Response("no", { status: 400 }),
    websocket: {
      async open(ws) {
        const abort = new AbortController();
        // As the route does (routes/logs.ts): one message per line, dropped past the budget.
        for await (const ev of followLog(db, svc, jobId, ws.data.after, {
          pingMs: 60_000,
          signal: abort.signal,
          buffered: () => ws.getBufferedAmount(),
          budgetBytes: VIEWER_BUDGET_BYTES,
        })) {
          if (ev.kind === "lines") for (const l of ev.lines) ws.send(JSON.stringify({ type: "line", ...l }));
          most = Math.max(most, ws.getBufferedAmount());
        }
        closeCode = 1013;
        ws.close(1013, "behind");
      },
      message() {},
    },
  });
  try {
    // The WebSocket handshake by hand, so the client can stop reading its socket.
    const sock = connect(server.port!, "127.0.0.1");
    const parts: Buffer[] = [];
    sock.on("data", (d: Buffer) => parts.push(d));
    const ended = new Promise<void>((resolve) => sock.on("close", () => resolve()));
    sock.write(
      "GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
        "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n",
    );
    const frames = () => {
      const raw = Buffer.concat(parts);
      let at = raw.indexOf("\r\n\r\n") + 4;
      const texts: string[] = [];
      while (at + 2 <= raw.length) {
        const op = raw[at] & 0x0f;
        let len = raw[at + 1] & 0x7f;
        let head = 2;
        if (len === 126) {
          len = raw.readUInt16BE(at + 2);
          head = 4;
        } else if (len === 127) {
          len = Number(raw.readBigUInt64BE(at + 2));
          head = 10;
        }
        if (at + head + len > raw.length) break;
        if (op === 1) texts.push(raw.subarray(at + head, at + head + len).toString());
        at += head + len;
      }
      return texts.map((t) => JSON.parse(t) as { type: string; n: number; text: string });
    };
    while (!frames().some((f) => f.n === 1)) await new Promise((r) => sock.once("data", r));
    sock.pause();
    const lines = 400_000;
    await print(svc, jobId, lines - 1, 200, () => {});
    expect(svc.hub.viewerCount(jobId)).toBe(0);
    // At most the budget, plus the one batch sent after the last check (200 lines as JSON with spans).
    expect(most).toBeLessThanOrEqual(VIEWER_BUDGET_BYTES + 2 * BATCH);
    sock.resume();
    await ended;
    expect(closeCode).toBe(1013);
    const first = frames()
      .filter((f) => f.type === "line")
      .map((f) => [f.n, f.text] as [number, string]);
    await expectResumed(svc, db, jobId, first, lines);
  } finally {
    server.stop(true);
  }
});
