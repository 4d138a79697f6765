// `bun run bench:memory [--mb 1024] [--viewers 1] [--json]`
// Server memory under one huge log, through the real paths: the server in its own process, a
// simulated builder uploading `--mb` MB of coloured test output through the ingest API (offset-
// addressed PATCH, as the builder daemon does), `--viewers` SSE viewers following it live; then
// the job finishes (the log is archived to the local blob store after the answer) and the whole
// log is downloaded as text. The server's RSS is sampled every 50 ms in each phase. See docs/perf.md.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireJob, LogUploader, registerSimBuilder } from "../../tests/support/builder-sim.ts";
import { createRepo } from "../../tests/support/git.ts";
import { startServerProcess } from "../../tests/support/server-process.ts";
import { rssBytes } from "./fanout-shared.ts";

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const opts = { mb: arg("--mb", 1024), viewers: arg("--viewers", 1), json: args.includes("--json") };
const say = (msg: string) => (opts.json ? console.error(msg) : console.log(msg));
const MB = 2 ** 20;

/** One MiB of jest/pytest-like coloured output, numbered from `line`. */
function outputBlock(line: number): { bytes: Uint8Array; lines: number } {
  let text = "";
  let n = line;
  while (text.length < MB - 200) {
    text +=
      n % 10 === 0
        ? `\x1b[1m\x1b[36mRUNS\x1b[0m src/module-${n % 97}/feature.test.ts \x1b[2m(${n % 1000} ms)\x1b[0m\n`
        : `  \x1b[32m✓\x1b[0m handles case ${n} of the parser \x1b[2m(${n % 13} ms)\x1b[0m\n`;
    n++;
  }
  return { bytes: new TextEncoder().encode(text), lines: n - line };
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
  const heartbeat = setInterval(() => client.heartbeat(jobId).catch(() => {}), 2000);

  // Viewers follow the log live over SSE, counting lines, to show they stay live under the load.
  const viewers = Array.from({ length: opts.viewers }, async () => {
    const res = await fetch(`${server.url}/api/v1/jobs/${jobId}/log/stream`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    let lines = 0;
    let carry = "";
    const decoder = new TextDecoder();
    for await (const piece of res.body!) {
      // Events are counted whole: the text after the last blank line waits for the next piece.
      const text = carry + decoder.decode(piece, { stream: true });
      const cut = text.lastIndexOf("\n\n") + 2;
      const whole = text.slice(0, cut);
      carry = text.slice(cut);
      for (let i = whole.indexOf("event: line"); i >= 0; i = whole.indexOf("event: line", i + 1)) lines++;
      if (whole.includes("event: end")) break;
    }
    return lines;
  });

  await Bun.sleep(1000);
  const idle = rssBytes(pid);
  say(`server idle RSS ${(idle / MB).toFixed(0)} MB; uploading ${opts.mb} MB`);

  // Ingest: the uploader keeps at most 8 MB unacknowledged, as a builder's bounded buffer would.
  let rss = sampler(pid);
  const uploader = new LogUploader(client, jobId, (err) => {
    throw err;
  });
  const started = performance.now();
  let lines = 0;
  for (let i = 0; i < opts.mb; i++) {
    const block = outputBlock(lines + 1);
    uploader.write(block.bytes);
    lines += block.lines;
    while (uploader.offset - uploader.acknowledged > 8 * MB) await Bun.sleep(5);
    if (i % 128 === 127) say(`  ${i + 1} MB, server RSS ${(rssBytes(pid) / MB).toFixed(0)} MB`);
  }
  await uploader.drain();
  const ingestSeconds = (performance.now() - started) / 1000;
  const ingestPeak = rss.stop();

  // Finish: the server answers, then archives the log to the blob store (done when its index is there).
  rss = sampler(pid);
  const archiveStart = performance.now();
  clearInterval(heartbeat);
  await client.finish(jobId, { status: "success", unsandboxed: true, log_bytes: uploader.offset });
  const viewerLines = await Promise.all(viewers);
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
  for await (const piece of res.body!) readBytes += piece.length;
  const readSeconds = (performance.now() - readStart) / 1000;
  const readPeak = rss.stop();

  const peak = Math.max(ingestPeak, archivePeak, readPeak);
  const result = {
    mb: opts.mb,
    lines,
    idle_rss_mb: Math.round(idle / MB),
    ingest_peak_rss_mb: Math.round(ingestPeak / MB),
    archive_peak_rss_mb: Math.round(archivePeak / MB),
    read_peak_rss_mb: Math.round(readPeak / MB),
    peak_above_idle_mb: Math.round((peak - idle) / MB),
    ingest_mb_s: Math.round((opts.mb / ingestSeconds) * 10) / 10,
    archive_s: Math.round(archiveSeconds * 10) / 10,
    read_mb_s: Math.round((readBytes / MB / readSeconds) * 10) / 10,
    viewer_lines: viewerLines,
  };
  say(
    `ingest ${result.ingest_mb_s} MB/s, peak RSS ${result.ingest_peak_rss_mb} MB\n` +
      `archive ${result.archive_s} s, peak RSS ${result.archive_peak_rss_mb} MB\n` +
      `download ${result.read_mb_s} MB/s of text, peak RSS ${result.read_peak_rss_mb} MB\n` +
      `peak above idle: ${result.peak_above_idle_mb} MB; lines ${lines}, viewers saw ${viewerLines.join(", ")}`,
  );
  if (opts.json) console.log(JSON.stringify(result));
} finally {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
