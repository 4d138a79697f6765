// `cairn artifacts download JOB [--path P] [--dest DIR]`: a job's artifacts through the REST API
// (GET /jobs/:id/artifacts, then each one's download URL), streamed to disk. Each file is written
// beside its final name and renamed once all its bytes are there, so an interrupted download never
// leaves a file that looks complete.
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebStream } from "node:stream/web";
import { Api, CliError, loadConfig } from "./client.ts";
import { args } from "./commands.ts";
import { makeOut } from "./output.ts";

interface Artifact {
  path: string;
  size: number;
  url: string;
}

const USAGE = "usage: cairn artifacts download JOB [--path P] [--dest DIR] [--json]";

/** `P` names one artifact, or a directory of them. */
const selected = (a: Artifact, p: string | undefined) => {
  if (!p) return true;
  const want = p.replace(/^\.?\/+/, "").replace(/\/+$/, "");
  return a.path === want || a.path.startsWith(`${want}/`);
};

const human = (n: number) =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;

async function all(api: Api, jobId: string): Promise<Artifact[]> {
  const items: Artifact[] = [];
  let cursor: string | null = null;
  do {
    const q: string = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
    const page = await api.get<{ items: Artifact[]; next_cursor?: string | null }>(
      `/api/v1/jobs/${encodeURIComponent(jobId)}/artifacts${q}`,
    );
    items.push(...page.items);
    cursor = page.next_cursor ?? null;
  } while (cursor);
  return items;
}

/** Streams one artifact to `file`; returns the bytes written. */
async function download(api: Api, a: Artifact, file: string): Promise<number> {
  const res = await api.stream(a.url);
  if (!res.body) throw new CliError(`${a.path}: the server sent no body`);
  await mkdir(dirname(file), { recursive: true });
  const partial = `${file}.cairn-partial`;
  let written = 0;
  const counted = Readable.fromWeb(res.body as unknown as WebStream<Uint8Array>).on(
    "data",
    (chunk: Buffer) => {
      written += chunk.length;
    },
  );
  try {
    await pipeline(counted, createWriteStream(partial, { mode: 0o644 }));
    if (written !== a.size) throw new CliError(`${a.path}: expected ${a.size} bytes, received ${written}`);
    await rename(partial, file);
  } catch (err) {
    await rm(partial, { force: true });
    if (err instanceof CliError) throw err;
    throw new CliError(`${a.path}: ${(err as Error).message}`);
  }
  return written;
}

export async function artifacts(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = args(rest, { path: { type: "string" }, dest: { type: "string" } });
  if (sub !== "download" || positionals.length !== 1) throw new CliError(USAGE, 2);
  const out = makeOut(Boolean(values.json));
  const api = new Api(await loadConfig());
  const jobId = positionals[0];
  const dest = resolve((values.dest as string | undefined) ?? ".");
  const wanted = (await all(api, jobId)).filter((a) => selected(a, values.path as string | undefined));
  if (wanted.length === 0) {
    throw new CliError(
      values.path ? `job ${jobId} has no artifact at ${values.path}` : `job ${jobId} has no artifacts`,
    );
  }
  const files: { path: string; file: string; size: number }[] = [];
  for (const a of wanted) {
    const file = join(dest, a.path);
    // Paths come from the server already normalised; a path that would leave DIR is refused anyway.
    const inside = relative(dest, file);
    if (!inside || inside.startsWith("..") || isAbsolute(inside))
      throw new CliError(`${a.path}: not a path inside ${dest}`);
    const size = await download(api, a, file);
    files.push({ path: a.path, file, size });
    if (!out.json) out.print(`${a.path}  ${human(size)}`);
  }
  const total = files.reduce((n, f) => n + f.size, 0);
  if (out.json) out.data({ job: jobId, dest, files });
  else out.print(`Downloaded ${files.length} artifact(s), ${human(total)}, to ${dest}`);
  return 0;
}
