// Moving archives between a sandbox and the blob store: tar + gzip made inside the sandbox, spooled
// on the fleet host, then streamed to (or from) the URL the server issued.
import type { BlobUrl } from "../../protocol/index.ts";
import type { Spool } from "../driver/types.ts";
import { readSpool, type StepContext } from "./context.ts";

/**
 * `tar -czf - PATHS` inside the sandbox, from `root`; PATHS may be globs (expanded there). Paths that
 * match nothing are reported on stderr and left out; none at all exits 3.
 */
const PACK = [
  'root=$1; shift; cd "$root" || exit 1',
  "n=$#; i=0",
  "while [ $i -lt $n ]; do",
  "  p=$1; shift; i=$((i+1)); found=0",
  '  for f in $p; do if [ -e "$f" ] || [ -L "$f" ]; then set -- "$@" "$f"; found=1; fi; done',
  '  [ $found = 1 ] || echo "cairn: $p: no such file or directory, skipped" >&2',
  "done",
  '[ $# -gt 0 ] || { echo "cairn: none of the paths exist" >&2; exit 3; }',
  'exec tar -czf - -- "$@"',
].join("\n");

/** Unpacks a tar.gz from stdin at $1 (made if missing). */
const UNPACK = 'mkdir -p "$1" && exec tar -C "$1" -xzf -';

export async function packTree(ctx: StepContext, root: string, paths: string[]): Promise<Spool> {
  return ctx.sandbox.capture(`IFS='\n'\n${PACK}`, [root, ...paths]);
}

/** Prints, NUL-separated, each of PATHS (globs, from $1) that matches nothing, as packTree would skip it. */
const MISSING = [
  'root=$1; shift; cd "$root" || { echo "cairn: $root: no such directory" >&2; exit 1; }',
  'for p in "$@"; do',
  "  found=0",
  '  for f in $p; do if [ -e "$f" ] || [ -L "$f" ]; then found=1; break; fi; done',
  '  [ $found = 1 ] || printf "%s\\0" "$p"',
  "done",
].join("\n");

/** The paths (as given) that match no file under `root` in the sandbox. */
export async function missingPaths(ctx: StepContext, root: string, paths: string[]): Promise<string[]> {
  const spool = await ctx.sandbox.capture(`IFS='\n'\n${MISSING}`, [root, ...paths]);
  const bytes = await readSpool(spool, 1024 * 1024);
  return new TextDecoder().decode(bytes).split("\0").filter(Boolean);
}

export async function unpackTree(
  ctx: StepContext,
  at: string,
  body: ReadableStream<Uint8Array>,
): Promise<void> {
  await ctx.sandbox.feed(UNPACK, [at], body);
}

/** PUTs a spool to a blob URL, streamed; removes the spool whatever happens. */
export async function upload(ctx: StepContext, url: BlobUrl, spool: Spool): Promise<void> {
  try {
    await ctx.client.blob(url, { method: "PUT", body: spool.stream(), size: spool.size }, ctx.signal);
  } finally {
    await spool.remove();
  }
}

export async function download(ctx: StepContext, url: BlobUrl): Promise<ReadableStream<Uint8Array>> {
  const res = await ctx.client.blob(url, { method: "GET" }, ctx.signal);
  if (!res.body) throw new Error("the blob store sent no body");
  return res.body;
}
