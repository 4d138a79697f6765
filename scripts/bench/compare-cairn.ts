// Cairn's side of `bench:compare`: the real server in its own process (`bun server/cli.ts serve`, a
// temp data dir, loopback) and a real builder daemon with the process driver (no container: the job's
// shell runs on this machine, as Buildbot's worker runs it), or with `--lxc` the LXC driver. Each job is its own project; a trigger is
// `POST /api/v1/projects/:id/pipelines`, the end of a job is its `job.finished` on `/api/v1/events`
// (the live builds list, followed from before the trigger, as Buildbot's WebSocket is), and the first
// line is the job's log over SSE, opened once the trigger has answered with the job's id.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  destroyContainers,
  ensureBaseTemplate,
  lxcMissingReason,
  TEMPLATE,
  testLxcPath,
} from "../../tests/harness/lxc.ts";
import { sshdMissingReason, startSshd, type TestSshd } from "../../tests/harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "../../tests/support/builder-process.ts";
import { createRepo } from "../../tests/support/git.ts";
import { type ServerProcess, startServerProcess } from "../../tests/support/server-process.ts";
import { readSse } from "../../tests/support/sse.ts";
import { type Contender, type JobRun, type Jobs, MARKER, now, PeakRss, waitFor } from "./compare-shared.ts";

const JOB_TIMEOUT_MS = 15 * 60_000;

const config = (name: string, command: string) => `version: 2.1
jobs:
  ${name}:
    machine: true
    steps:
      - run: ${command}
workflows:
  w:
    jobs: [${name}]
`;

/** Follows `/api/v1/events` and remembers when each job finished and which job each pipeline made. */
class EventFollower {
  readonly finished = new Map<string, { at: number; status: string }>();
  readonly jobOfPipeline = new Map<string, string>();
  private readonly abort = new AbortController();
  readonly ready: Promise<void>;

  constructor(url: string, token: string) {
    let isReady: () => void = () => {};
    this.ready = new Promise((r) => (isReady = r));
    (async () => {
      const events = readSse(`${url}/api/v1/events`, {
        headers: { authorization: `Bearer ${token}` },
        signal: this.abort.signal,
      });
      for await (const ev of events) {
        const at = now();
        if (ev.event === "ready") isReady();
        if (!ev.event.startsWith("job.")) continue;
        const data = JSON.parse(ev.data) as { job_id: string; pipeline_id: string; status: string };
        if (!this.jobOfPipeline.has(data.pipeline_id)) this.jobOfPipeline.set(data.pipeline_id, data.job_id);
        if (ev.event === "job.finished") this.finished.set(data.job_id, { at, status: data.status });
      }
    })().catch(() => {});
  }

  close() {
    this.abort.abort();
  }
}

/**
 * `track` gets the stop function before anything starts, so an interrupted start is cleaned up too.
 * With `lxc`, the builder drives LXC through the test harness's sshd: a fresh container per job, in
 * a private lxcpath of this process (removed at the end, or swept as a dead run's if killed).
 */
export async function startCairn(
  jobs: Jobs,
  track: (stop: () => Promise<void>) => void,
  opts: { lxc?: boolean } = {},
): Promise<Contender> {
  const dir = mkdtempSync(join(tmpdir(), "cairn-bench-compare-"));
  const sandboxes = join(dir, "sandboxes");
  mkdirSync(sandboxes);
  const repos: string[] = [];
  let server: ServerProcess | undefined;
  let builder: BuilderProcess | undefined;
  let events: EventFollower | undefined;
  let sshd: TestSshd | undefined;
  let lxcPath: string | undefined;
  const stop = async () => {
    events?.close();
    await builder?.stop().catch(() => {});
    await server?.stop().catch(() => {});
    if (lxcPath) {
      await destroyContainers({ lxcPath }).catch(() => {});
      await destroyContainers({ lxcPath, names: [TEMPLATE] }).catch(() => {});
      rmSync(dirname(lxcPath), { recursive: true, force: true });
    }
    await sshd?.stop().catch(() => {});
    for (const r of repos) rmSync(r, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  };
  track(stop);
  try {
    server = await startServerProcess(join(dir, "data"));
    const { url, token } = server;
    const api = async (path: string, body: unknown) => {
      const res = await fetch(`${url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`POST ${path}: HTTP ${res.status} ${await res.text()}`);
      return res.json() as Promise<{ id: string; jobs?: { id: string }[] }>;
    };
    const projects = {} as Record<keyof Jobs, string>;
    for (const name of Object.keys(jobs) as (keyof Jobs)[]) {
      const repo = createRepo();
      repos.push(dirname(repo.bare));
      repo.commit({ ".circleci/config.yml": config(name, jobs[name]) });
      projects[name] = (await api("/api/v1/projects", { name: `compare-${name}`, repo_url: repo.bare })).id;
    }
    if (opts.lxc) {
      const missing = (await lxcMissingReason()) ?? sshdMissingReason();
      if (missing) throw new Error(`--lxc: ${missing}`);
      lxcPath = testLxcPath();
      await ensureBaseTemplate({ lxcPath });
      sshd = await startSshd();
    }
    builder = await startBuilder({
      server: url,
      adminToken: token,
      name: "compare",
      sshd,
      env: { TMPDIR: sandboxes },
    });
    events = new EventFollower(url, token);
    await events.ready;
    const serverPid = server.child.pid ?? 0;
    const agentPid = builder.child.pid ?? 0;
    const follower = events;

    /** Resolves when a `line` event with MARKER reaches a viewer of the job's log. */
    const firstLine = async (jobId: string) => {
      const abort = new AbortController();
      try {
        const log = readSse(`${url}/api/v1/jobs/${jobId}/log/stream`, {
          headers: { authorization: `Bearer ${token}` },
          signal: abort.signal,
        });
        for await (const ev of log) {
          if (ev.event === "line" && ev.data === MARKER) return now();
          if (ev.event === "end") break;
        }
        return undefined;
      } finally {
        abort.abort();
      }
    };

    return {
      name: "Cairn",
      describe: opts.lxc
        ? "cairn-server (bun, own process) + cairn-builder --driver lxc (a fresh container per job)"
        : "cairn-server (bun, own process) + cairn-builder --driver process (no container)",
      serverPid,
      agentPid,
      async run(job, { watchFirstLine }): Promise<JobRun> {
        const serverPeak = new PeakRss(serverPid);
        const agentPeak = new PeakRss(agentPid);
        const t0 = now();
        const pipeline = await api(`/api/v1/projects/${projects[job]}/pipelines`, { branch: "main" });
        const answered = now();
        // The answer names the job; if it ever answers before planning, the events stream does.
        const jobId =
          pipeline.jobs?.[0]?.id ??
          (await waitFor(
            "the pipeline's job",
            () => follower.jobOfPipeline.get(pipeline.id),
            JOB_TIMEOUT_MS,
            5,
          ));
        const first = watchFirstLine ? await firstLine(jobId) : undefined;
        const end = await waitFor("the job to finish", () => follower.finished.get(jobId), JOB_TIMEOUT_MS, 5);
        return {
          answered_ms: answered - t0,
          first_line_ms: first === undefined ? undefined : first - t0,
          finished_ms: end.at - t0,
          status: end.status,
          server_peak_mb: serverPeak.stopMb(),
          agent_peak_mb: agentPeak.stopMb(),
        };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
