// The `cairn` commands: each uses the REST API only.
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import type { LogLine } from "../../wasm/types.ts";
import { renderAnsi } from "../logs/ansi.ts";
import { Api, CliError, loadConfig, saveConfig } from "./client.ts";
import { makeOut, type Out, status } from "./output.ts";

type Job = {
  id: string;
  name: string;
  status: string;
  approval?: "pending" | "approved" | "canceled";
  attempt?: number;
  superseded_by?: string | null;
  slice?: { index: number; total: number };
};
type Pipeline = {
  id: string;
  number: number;
  status: string;
  branch: string | null;
  sha: string;
  jobs: Job[];
  config_errors?: { file: string; line: number; col: number; message: string }[];
};

/** A pipeline answered before its setup: the commit not yet fetched or its config not yet planned. */
const IN_SETUP = new Set(["created", "fetching", "planning"]);

const TERMINAL = new Set(["success", "failed", "canceled", "lost", "not_run"]);

/** What a person should read for a job's state: an approval job waiting is on hold, not queued. */
export const shownStatus = (j: Job): string => (j.approval === "pending" ? "on_hold" : j.status);

/** `name [i/n]` for a slice of a parallel job (1-based, as people count), the name alone otherwise. */
export const jobLabel = (j: Job): string =>
  j.slice && j.slice.total > 1 ? `${j.name} [${j.slice.index + 1}/${j.slice.total}]` : j.name;

/** A job table: name, slice, attempt, status, id, padded to line up. */
function jobTable(out: Out, rows: Job[]): void {
  const cells = rows.map((j) => [
    j.name,
    j.slice && j.slice.total > 1 ? `${j.slice.index + 1}/${j.slice.total}` : "-",
    String(j.attempt ?? 1),
    shownStatus(j),
    j.id,
  ]);
  const head = ["JOB", "SLICE", "ATTEMPT", "STATUS", "ID"];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[], colour = false) =>
    `  ${c
      .map((v, i) => {
        const padded = v.padEnd(widths[i]);
        return colour && i === 3 ? padded.replace(v, status(out, v)) : padded;
      })
      .join("  ")
      .trimEnd()}`;
  out.print(line(head));
  for (const c of cells) out.print(line(c, true));
}

/** The token for `login`: piped on stdin, or typed at a prompt that does not echo it. Never argv. */
async function readToken(): Promise<string> {
  if (!process.stdin.isTTY) return (await new Response(Bun.stdin.stream()).text()).trim();
  const stdin = process.stdin;
  // Echo off before the prompt shows: a token pasted the moment it appears is not echoed either.
  stdin.setRawMode(true);
  stdin.resume();
  process.stderr.write("API token: ");
  let typed = "";
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        for (const ch of d.toString("utf8")) {
          if (ch === "\r" || ch === "\n") {
            stdin.off("data", onData);
            return resolve();
          }
          if (ch === "\u0003") {
            stdin.off("data", onData);
            return reject(new CliError("login canceled", 130));
          }
          if (ch === "\u007f" || ch === "\b") typed = typed.slice(0, -1);
          else typed += ch;
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
  return typed.trim();
}

export function args<T extends ParseArgsOptionsConfig>(argv: string[], options: T) {
  try {
    const all = { json: { type: "boolean" as const }, ...options };
    return parseArgs({ args: argv, options: all, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
}

export async function login(argv: string[]): Promise<number> {
  if (argv.some((a) => a === "--token" || a.startsWith("--token=")))
    throw new CliError(
      "--token is not accepted: a token on the command line shows in the process list, shell history and npm's banner. " +
        "Pipe it in (`cairn login --server URL < token-file`) or type it at the prompt",
      2,
    );
  const { values } = args(argv, { server: { type: "string" } });
  const out = makeOut(Boolean(values.json));
  const server = (values.server as string | undefined) ?? process.env.CAIRN_SERVER;
  if (!server)
    throw new CliError("usage: cairn login --server URL   (the token is read from stdin or a prompt)", 2);
  const token = process.env.CAIRN_TOKEN ?? (await readToken());
  if (!token) throw new CliError("no token given: pipe it on stdin or type it at the prompt", 2);
  const api = new Api({ server, token });
  await api.get("/api/v1/projects"); // proves the token works before saving it
  const path = await saveConfig({ server, token });
  if (out.json) out.data({ server, config: path });
  else out.print(`Logged in to ${server} (saved in ${path})`);
  return 0;
}

export async function trigger(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, {
    branch: { type: "string" },
    sha: { type: "string" },
    param: { type: "string", multiple: true },
    follow: { type: "boolean" },
  });
  const out = makeOut(Boolean(values.json));
  if (positionals.length !== 1)
    throw new CliError("usage: cairn trigger PROJECT [--branch B] [--param k=v]... [--follow]", 2);
  const parameters: Record<string, string | number | boolean> = {};
  for (const p of (values.param as string[] | undefined) ?? []) {
    const i = p.indexOf("=");
    if (i <= 0) throw new CliError(`--param needs key=value, got ${JSON.stringify(p)}`, 2);
    const v = p.slice(i + 1);
    parameters[p.slice(0, i)] =
      v === "true" ? true : v === "false" ? false : /^-?\d+$/.test(v) ? Number(v) : v;
  }
  const api = new Api(await loadConfig());
  const project = await api.project(positionals[0]);
  // The server answers before the commit is fetched; without --follow, it is asked to wait for the plan.
  const answered = await api.post<Pipeline>(
    `/api/v1/projects/${project.id}/pipelines`,
    {
      ...(values.branch ? { branch: values.branch } : {}),
      ...(values.sha ? { sha: values.sha } : {}),
      ...(Object.keys(parameters).length ? { parameters } : {}),
    },
    values.follow ? {} : { prefer: "wait=60" },
  );
  const created = await planned(api, answered);
  if (!values.follow) {
    if (out.json) out.data(created);
    else {
      out.print(
        `Pipeline #${created.number} of ${project.name} at ${created.sha.slice(0, 12)}: ${created.jobs.length} job(s)`,
      );
      jobTable(out, created.jobs);
    }
    return 0;
  }
  return followPipeline(api, out, created.id);
}

/**
 * The pipeline once planned (its setup states polled). One that cannot run (`error`: an invalid or
 * missing config, an unknown ref) is the command's failure, with every problem.
 */
async function planned(api: Api, p: Pipeline): Promise<Pipeline> {
  while (IN_SETUP.has(p.status)) {
    await Bun.sleep(100);
    p = await api.get<Pipeline>(`/api/v1/pipelines/${p.id}`);
  }
  if (p.status !== "error") return p;
  const lines = (p.config_errors ?? []).map((e) =>
    e.line > 0 ? `${e.file}:${e.line}:${e.col}: ${e.message}` : e.message,
  );
  throw new CliError(
    `pipeline #${p.number} cannot run: ${lines.length === 1 ? lines[0] : `${lines.length} problems:\n${lines.join("\n")}`}`,
  );
}

/** Follows a pipeline to its end: each job's log as it runs, prefixed with the job's name. */
async function followPipeline(api: Api, out: Out, pipelineId: string): Promise<number> {
  const following = new Set<string>();
  const held = new Set<string>();
  const followers: Promise<void>[] = [];
  for (;;) {
    const p = await api.get<Pipeline>(`/api/v1/pipelines/${pipelineId}`);
    for (const job of p.jobs) {
      // A pipeline waiting for an approval would look stuck: say what it waits for, once.
      if (job.approval === "pending" && !held.has(job.id)) {
        held.add(job.id);
        if (out.json) out.data({ job: job.id, name: job.name, status: "on_hold" });
        else out.error(`${job.name} is on hold: \`cairn approve ${job.id}\` lets the jobs after it run`);
      }
      if (job.status === "queued" || following.has(job.id)) continue;
      following.add(job.id);
      followers.push(streamLog(api, out, job.id, jobLabel(job)));
    }
    if (TERMINAL.has(p.status)) {
      await Promise.all(followers);
      if (out.json) out.data(p);
      else out.print(`Pipeline #${p.number}: ${status(out, p.status)}`);
      return p.status === "success" ? 0 : 1;
    }
    await Bun.sleep(500);
  }
}

/** Connection attempts in a row that end before the server said anything, before the CLI gives up. */
const MAX_STREAM_FAILURES = 5;

/** Streams a job's log over the WebSocket (lines with styles) until the job ends; returns its status. */
function streamLog(api: Api, out: Out, jobId: string, prefix?: string): Promise<string> & Promise<void> {
  return new Promise((resolve, reject) => {
    let last = 0;
    let result = "";
    /** Connections in a row that ended before any message: a busy server is ridden out, a refusal is not. */
    let failures = 0;
    const open = () => {
      const url = api.url(`/api/v1/jobs/${jobId}/log/ws?from=${last}`).replace(/^http/, "ws");
      const ws = new WebSocket(url, { headers: api.headers() } as unknown as string[]);
      let answered = false;
      ws.onmessage = (m) => {
        answered = true;
        failures = 0;
        const msg = JSON.parse(String(m.data)) as { type: string; status?: string } & Partial<LogLine>;
        if (msg.type === "line") {
          last = msg.n!;
          const line = msg as LogLine;
          if (out.json) out.data({ job: jobId, n: line.n, text: line.text, spans: line.spans });
          else {
            const text = out.color ? renderAnsi([line]).replace(/\n$/, "") : line.text;
            out.print(prefix ? `${out.color ? `\x1b[2m${prefix}\x1b[0m` : prefix} | ${text}` : text);
          }
        } else if (msg.type === "end") {
          result = msg.status ?? "";
          ws.close();
        }
      };
      ws.onclose = () => {
        if (result) resolve(result as never);
        else if (!answered && ++failures >= MAX_STREAM_FAILURES)
          reject(new CliError(`cannot stream the log of job ${jobId}`));
        else setTimeout(open, 1000); // dropped: resume after the last line
      };
    };
    open();
  }) as Promise<string> & Promise<void>;
}

export async function logs(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, { follow: { type: "boolean", short: "f" } });
  const out = makeOut(Boolean(values.json));
  if (positionals.length !== 1) throw new CliError("usage: cairn logs JOB [--follow] [--json]", 2);
  const api = new Api(await loadConfig());
  const jobId = positionals[0];
  if (values.follow) {
    const s = await streamLog(api, out, jobId);
    return s === "success" ? 0 : 1;
  }
  let from = 0;
  let printed = 0;
  for (;;) {
    const page = await api.get<{ lines: LogLine[]; next_from: number }>(
      `/api/v1/jobs/${jobId}/log?from=${from}&limit=10000`,
    );
    for (const line of page.lines) {
      if (out.json) out.data({ job: jobId, n: line.n, text: line.text, spans: line.spans });
      else out.print(out.color ? renderAnsi([line]).replace(/\n$/, "") : line.text);
    }
    printed += page.lines.length;
    if (page.lines.length < 10000) break;
    from = page.next_from;
  }
  if (printed === 0) {
    // A job that failed before its first step has no lines: its reason is the whole story.
    const job = await api.get<Job & { failure_reason: string | null }>(`/api/v1/jobs/${jobId}`);
    if (out.json) out.data({ job: jobId, status: shownStatus(job), failure_reason: job.failure_reason });
    else if (job.failure_reason) out.error(`${jobLabel(job)}: ${shownStatus(job)}: ${job.failure_reason}`);
    else out.error(`${jobLabel(job)}: ${shownStatus(job)}, no log lines yet`);
  }
  return 0;
}

export async function statusCmd(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, {});
  const out = makeOut(Boolean(values.json));
  const api = new Api(await loadConfig());
  if (positionals.length === 0) {
    const projects = await api.get<{ items: { id: string; name: string }[] }>("/api/v1/projects");
    const rows = [];
    for (const p of projects.items) {
      const latest = (await api.get<{ items: Pipeline[] }>(`/api/v1/projects/${p.id}/pipelines`)).items[0];
      rows.push({ project: p.name, id: p.id, pipeline: latest ?? null });
    }
    if (out.json) out.data(rows);
    else
      for (const r of rows)
        out.print(
          `${r.project.padEnd(24)} ${r.pipeline ? `#${r.pipeline.number} ${status(out, r.pipeline.status)} ${r.pipeline.branch ?? r.pipeline.sha.slice(0, 12)}` : "no pipelines"}`,
        );
    return 0;
  }
  const ref = positionals[0];
  let pipeline: Pipeline;
  try {
    pipeline = await api.get<Pipeline>(`/api/v1/pipelines/${ref}`);
  } catch {
    const project = await api.project(ref);
    const latest = (await api.get<{ items: Pipeline[] }>(`/api/v1/projects/${project.id}/pipelines`))
      .items[0];
    if (!latest) throw new CliError(`project ${project.name} has no pipelines yet`);
    pipeline = latest;
  }
  if (out.json) out.data(pipeline);
  else {
    out.print(
      `Pipeline #${pipeline.number} ${status(out, pipeline.status)} ${pipeline.branch ?? ""} ${pipeline.sha.slice(0, 12)}`,
    );
    // Earlier attempts of re-run jobs are in --json; the table shows what runs now.
    jobTable(
      out,
      pipeline.jobs.filter((j) => !j.superseded_by),
    );
  }
  return 0;
}

export async function approve(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, {});
  const out = makeOut(Boolean(values.json));
  if (positionals.length !== 1) throw new CliError("usage: cairn approve JOB", 2);
  const api = new Api(await loadConfig());
  const r = await api.post<{ id: string; status: string; approval: string }>(
    `/api/v1/jobs/${positionals[0]}/approve`,
  );
  if (out.json) out.data(r);
  else out.print(`Approved job ${r.id}: the jobs after it may run`);
  return 0;
}

export async function cancel(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, {});
  const out = makeOut(Boolean(values.json));
  if (positionals.length !== 1) throw new CliError("usage: cairn cancel JOB", 2);
  const api = new Api(await loadConfig());
  const r = await api.post<{ id: string; canceled: boolean; status: string }>(
    `/api/v1/jobs/${positionals[0]}/cancel`,
  );
  if (out.json) out.data(r);
  else out.print(r.canceled ? `Canceled job ${r.id}` : `Job ${r.id} already ended (${r.status})`);
  return 0;
}

export async function env(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = args(rest, { "from-stdin": { type: "boolean" } });
  const out = makeOut(Boolean(values.json));
  const api = new Api(await loadConfig());
  if (sub === "list" && positionals.length === 1) {
    const project = await api.project(positionals[0]);
    const r = await api.get<{ items: { name: string; hint: string; updated_at: string }[] }>(
      `/api/v1/projects/${project.id}/envvars`,
    );
    if (out.json) out.data(r.items);
    else for (const v of r.items) out.print(`${v.name.padEnd(32)} ${v.hint}  ${v.updated_at}`);
    return 0;
  }
  if (sub === "set" && (positionals.length === 3 || (positionals.length === 2 && values["from-stdin"]))) {
    const project = await api.project(positionals[0]);
    // A value on the command line lands in shell history: --from-stdin keeps it out.
    const value = values["from-stdin"]
      ? (await new Response(Bun.stdin.stream()).text()).replace(/\r?\n$/, "")
      : positionals[2];
    const r = await api.post<{ name: string; hint: string; warning?: string }>(
      `/api/v1/projects/${project.id}/envvars`,
      {
        name: positionals[1],
        value,
      },
    );
    if (out.json) out.data(r);
    else out.print(`Set ${r.name} (${r.hint})${r.warning ? `\nwarning: ${r.warning}` : ""}`);
    return 0;
  }
  if (sub === "unset" && positionals.length === 2) {
    const project = await api.project(positionals[0]);
    await api.request(
      "DELETE",
      `/api/v1/projects/${project.id}/envvars/${encodeURIComponent(positionals[1])}`,
    );
    if (out.json) out.data({ name: positionals[1], deleted: true });
    else out.print(`Removed ${positionals[1]}`);
    return 0;
  }
  throw new CliError(
    "usage: cairn env set PROJECT NAME [VALUE | --from-stdin] | cairn env unset PROJECT NAME | cairn env list PROJECT",
    2,
  );
}

export async function rerun(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, { failed: { type: "boolean" } });
  const out = makeOut(Boolean(values.json));
  if (positionals.length !== 1) throw new CliError("usage: cairn rerun PIPELINE [--failed]", 2);
  const api = new Api(await loadConfig());
  const p = await api.get<Pipeline & { workflows: { id: string; name: string; status: string }[] }>(
    `/api/v1/pipelines/${positionals[0]}`,
  );
  const results = [];
  for (const wf of p.workflows) {
    if (values.failed && wf.status === "success") continue;
    results.push(
      await api.post<{ workflow_id: string; jobs: string[] }>(`/api/v1/workflows/${wf.id}/rerun`, {
        from_failed: Boolean(values.failed),
      }),
    );
  }
  if (out.json) out.data(results);
  else for (const r of results) out.print(`Re-running ${r.jobs.length} job(s) of workflow ${r.workflow_id}`);
  return 0;
}
