// `bun run bench:memory [--shape coloured|unreset|empty] [--mb N] [--viewers 1] [--json]`
// Server memory under one huge log, through the real paths: the server in its own process, a
// simulated builder uploading `--mb` MB of output through the ingest API (offset-addressed PATCH,
// as the builder daemon does), `--viewers` SSE viewers following it live; then the job finishes
// (the log is archived to the local blob store after the answer) and the whole log is downloaded
// as text. The server's RSS is sampled every 50 ms in each phase. See docs/perf.md.
// Shapes: `coloured` (default, 1024 MB) is jest/pytest-like coloured test output, the typical log;
// `empty` (default 16 MB = 16 M lines) is only newlines, every byte a line: the worst output per
// input byte (chunk JSON and SSE, ~70 bytes per byte) that the ingest budget counts, so it is the
// case that proves the budget bounds memory by output, not by upload size.
// Every viewer's lines and the downloaded lines must equal the lines sent, or the bench fails
// (exit 1); 503s (`ingest_busy`) and short acknowledgements of the uploads are counted.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiCallError } from "../../builder/retryable.ts";
import { acquireJob, LogUploader, registerSimBuilder } from "../../tests/support/builder-sim.ts";
import { createRepo } from "../../tests/support/git.ts";
import { startServerProcess } from "../../tests/support/server-process.ts";
import { rssBytes } from "./fanout-shared.ts";

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const shapeAt = args.indexOf("--shape");
const shape = shapeAt >= 0 ? args[shapeAt + 1] : "coloured";
if (shape !== "coloured" && shape !== "unreset" && shape !== "empty") {
  console.error(`--shape ${shape}: expected coloured, unreset or empty`);
  process.exit(2);
}
const opts = {
  shape,
  mb: arg("--mb", shape === "empty" ? 16 : 1024),
  viewers: arg("--viewers", 1),
  json: args.includes("--json"),
};
const say = (msg: string) => (opts.json ? console.error(msg) : console.log(msg));
const MB = 2 ** 20;

/**
 * One MiB of jest/pytest-like coloured output, numbered from `line`. `unreset`: each colour and
 * weight undone by its own code (39, 22) as many tools do, never by a full reset (0).
 */
function outputBlock(line: number, unreset = false): { bytes: Uint8Array; lines: number } {
  const [endFg, endWeight] = unreset ? ["\x1b[39m", "\x1b[22m"] : ["\x1b[0m", "\x1b[0m"];
  let text = "";
  let n = line;
  while (text.length < MB - 200) {
    text +=
      n % 10 === 0
        ? `\x1b[1m\x1b[36mRUNS${endFg}${unreset ? endWeight : ""} src/module-${n % 97}/feature.test.ts \x1b[2m(${n % 1000} ms)${endWeight}\n`
        : `  \x1b[32m✓${endFg} handles case ${n} of the parser \x1b[2m(${n % 13} ms)${endWeight}\n`;
    n++;
  }
  return { bytes: new TextEncoder().encode(text), lines: n - line };
}

/** One MiB of empty lines: only newlines, every byte a line. */
const EMPTY_BLOCK = new Uint8Array(MB).fill(0x0a);
const nextBlock =
  opts.shape === "empty"
    ? () => ({ bytes: EMPTY_BLOCK, lines: MB })
    : (line: number) => outputBlock(line, opts.shape === "unreset");

/** Newlines in `bytes`. */
function countNewlines(bytes: Uint8Array): number {
  let n = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) n++;
  return n;
}

/** Samples the server's RSS until stopped; returns the peak. */
function sampler(pid: number) {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid));
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, rssBytes(pid));
    },
  };
}

const dataDir = mkdtempSync(join(tmpdir(), "cairn-bench-memory-"));
const server = await startServerProcess(dataDir);
const pid = server.child.pid!;
try {
  const api = async (path: string, body: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`POST ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as { id: string };
  };
  const repo = createRepo();
  repo.commit({
    ".circleci/config.yml":
      "version: 2.1\njobs:\n  big:\n    machine: true\n    steps:\n      - run: seq 1 100000000\nworkflows:\n  w:\n    jobs: [big]\n",
  });
  const project = await api("/api/v1/projects", { name: "memory-bench", repo_url: repo.bare });
  await api(`/api/v1/projects/${project.id}/pipelines`, { branch: "main" });
  const client = await registerSimBuilder(server.url, server.token, "memory-bench");
  const jobId = (await acquireJob(client)).job.id;
  // The lease lives 15 s past the last heartbeat: the slowest heartbeat and any failures are kept,
  // since a server too busy to answer them would take the job away.
  const beats = { slowestMs: 0, failed: [] as string[] };
  const heartbeat = setInterval(() => {
    const sent = performance.now();
    client.heartbeat(jobId).then(
      () => {
        beats.slowestMs = Math.max(beats.slowestMs, performance.now() - sent);
      },
      (err) => beats.failed.push(`${Math.round(performance.now() - sent)} ms: ${err}`),
    );
  }, 2000);

  // Counts the server's refusals (503 ingest_busy, retried after the wait it asks) and short
  // acknowledgements (part of an upload taken; the uploader sends the rest), per PATCH attempt.
  const uploads = { patches: 0, busy: 0, short: 0 };
  const log = client.log.bind(client);
  client.log = async (id, offset, bytes) => {
    uploads.patches++;
    try {
      const ack = await log(id, offset, bytes);
      if (ack.offset < offset + bytes.length) uploads.short++;
      return ack;
    } catch (err) {
      if (err instanceof ApiCallError && err.status === 503) uploads.busy++;
      throw err;
    }
  };

  // Viewers follow the log live over SSE, counting lines, to show they stay live under the load.
  // A viewer that falls behind its budget is dropped by design (server/logs/sse.ts); like a
  // browser's EventSource it reconnects after the `retry` the server set (1 s) with Last-Event-ID
  // and reads the rest, so lines are only delayed: the reconnects are counted.
  const viewers = Array.from({ length: opts.viewers }, async () => {
    let lines = 0;
    let lastId = 0;
    let reconnects = 0;
    for (;;) {
      const res = await fetch(`${server.url}/api/v1/jobs/${jobId}/log/stream`, {
        headers: {
          authorization: `Bearer ${server.token}`,
          ...(lastId > 0 ? { "last-event-id": String(lastId) } : {}),
        },
      });
      if (!res.ok) throw new Error(`log stream: HTTP ${res.status} ${await res.text()}`);
      let carry = "";
      let ended = false;
      const decoder = new TextDecoder();
      for await (const piece of res.body!) {
        // Events are counted whole: the text after the last blank line waits for the next piece.
        const text = carry + decoder.decode(piece, { stream: true });
        const cut = text.lastIndexOf("\n\n") + 2;
        const whole = text.slice(0, cut);
        carry = text.slice(cut);
        let last = -1;
        for (let i = whole.indexOf("event: line"); i >= 0; i = whole.indexOf("event: line", i + 1)) {
          lines++;
          last = i;
        }
        if (last >= 0) {
          const id = whole.indexOf("\nid: ", last) + 5;
          lastId = Number(whole.slice(id, whole.indexOf("\n", id)));
        }
        if (whole.includes("event: end")) {
          ended = true;
          break;
        }
      }
      if (ended) return { lines, lastId, reconnects };
      reconnects++;
      await Bun.sleep(1000);
    }
  });

  await Bun.sleep(1000);
  const idle = rssBytes(pid);
  say(`server idle RSS ${(idle / MB).toFixed(0)} MB; uploading ${opts.mb} MB of ${opts.shape} output`);

  // Ingest: the uploader keeps at most 8 MB unacknowledged, as a builder's bounded buffer would.
  let rss = sampler(pid);
  let uploadFailed: unknown;
  const checkUpload = () => {
    if (uploadFailed === undefined) return;
    throw new Error(
      `the upload failed with ${uploader.acknowledged} bytes acknowledged: ${uploadFailed}; slowest heartbeat ` +
        `${Math.round(beats.slowestMs)} ms, failed heartbeats: ${beats.failed.join("; ") || "none"}`,
    );
  };
  const uploader = new LogUploader(client, jobId, (err) => {
    uploadFailed = err;
  });
  const started = performance.now();
  let lines = 0;
  const progressEvery = opts.shape === "empty" ? 4 : 128;
  for (let i = 0; i < opts.mb; i++) {
    const block = nextBlock(lines + 1);
    uploader.write(block.bytes);
    lines += block.lines;
    while (uploader.offset - uploader.acknowledged > 8 * MB && !uploadFailed) await Bun.sleep(5);
    checkUpload();
    if ((i + 1) % progressEvery === 0) say(`  ${i + 1} MB, server RSS ${(rssBytes(pid) / MB).toFixed(0)} MB`);
  }
  // Drained (the uploader's own drain would keep resending after a fatal error such as a lost lease).
  while (uploader.acknowledged < uploader.offset && !uploadFailed) await Bun.sleep(5);
  checkUpload();
  const ingestSeconds = (performance.now() - started) / 1000;
  const ingestPeak = rss.stop();

  // Finish: the server answers, then archives the log to the blob store (done when its index is there).
  rss = sampler(pid);
  const archiveStart = performance.now();
  clearInterval(heartbeat);
  await client.finish(jobId, { status: "success", unsandboxed: true, log_bytes: uploader.offset });
  const seen = await Promise.all(viewers);
  const viewerLines = seen.map((v) => v.lines);
  const viewerReconnects = seen.map((v) => v.reconnects);
  while (!existsSync(join(dataDir, "blobs", "logs", `${jobId}.idx`))) await Bun.sleep(100);
  const archiveSeconds = (performance.now() - archiveStart) / 1000;
  const archivePeak = rss.stop();

  // Read: the whole archived log downloaded as text, as fast as this client reads.
  rss = sampler(pid);
  const readStart = performance.now();
  const res = await fetch(`${server.url}/api/v1/jobs/${jobId}/log?format=text`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  let readBytes = 0;
  let readLines = 0;
  for await (const piece of res.body!) {
    readBytes += piece.length;
    readLines += countNewlines(piece);
  }
  const readSeconds = (performance.now() - readStart) / 1000;
  const readPeak = rss.stop();

  const peak = Math.max(ingestPeak, archivePeak, readPeak);
  const result = {
    shape: opts.shape,
    mb: opts.mb,
    lines,
    downloaded_lines: readLines,
    viewer_lines: viewerLines,
    viewer_reconnects: viewerReconnects,
    idle_rss_mb: Math.round(idle / MB),
    ingest_peak_rss_mb: Math.round(ingestPeak / MB),
    archive_peak_rss_mb: Math.round(archivePeak / MB),
    read_peak_rss_mb: Math.round(readPeak / MB),
    peak_above_idle_mb: Math.round((peak - idle) / MB),
    ingest_s: Math.round(ingestSeconds * 10) / 10,
    ingest_mb_s: Math.round((opts.mb / ingestSeconds) * 10) / 10,
    slowest_heartbeat_ms: Math.round(beats.slowestMs),
    failed_heartbeats: beats.failed.length,
    patches: uploads.patches,
    busy_503: uploads.busy,
    short_acks: uploads.short,
    archive_s: Math.round(archiveSeconds * 10) / 10,
    read_mb_s: Math.round((readBytes / MB / readSeconds) * 10) / 10,
  };
  say(
    `ingest ${result.ingest_s} s (${result.ingest_mb_s} MB/s) in ${uploads.patches} PATCHes ` +
      `(${uploads.busy} refused 503, ${uploads.short} acknowledged short), peak RSS ${result.ingest_peak_rss_mb} MB\n` +
      `archive ${result.archive_s} s, peak RSS ${result.archive_peak_rss_mb} MB\n` +
      `download ${result.read_mb_s} MB/s of text, peak RSS ${result.read_peak_rss_mb} MB\n` +
      `peak above idle: ${result.peak_above_idle_mb} MB; lines ${lines}, viewers saw ${viewerLines.join(", ")} ` +
      `(reconnected ${viewerReconnects.join(", ")} times), ` +
      `downloaded ${readLines}`,
  );
  if (opts.json) console.log(JSON.stringify(result));
  // Lost or duplicated lines fail the bench: a viewer's count and last id, and the download's count.
  const wrong = [
    ...seen.flatMap((v, i) =>
      v.lines === lines && v.lastId === lines
        ? []
        : [`viewer ${i + 1} got ${v.lines} lines (last id ${v.lastId}), sent ${lines}`],
    ),
    ...(readLines === lines ? [] : [`the download has ${readLines} lines, sent ${lines}`]),
  ];
  if (wrong.length > 0) {
    console.error(`FAIL: lines lost or duplicated: ${wrong.join("; ")}`);
    process.exitCode = 1;
  }
} finally {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
