// Temp files on the fleet host that archives pass through between a sandbox and the builder's HTTP
// transfers: written and read in bounded chunks over the host transport (ssh or local), so a large
// tree is never whole in the builder's memory and an upload knows its Content-Length up front.
import { concatBytes, shellCommand } from "../transport/shell.ts";
import type { HostTransport, Spool } from "./types.ts";

/** Bytes per transport round trip when reading or writing a spool. */
export const SPOOL_CHUNK_BYTES = 4 * 1024 * 1024;
/** Where spools live on the host: on disk (archives can be larger than a tmpfs /tmp). */
export const SPOOL_DIR = "/var/tmp";
export const SPOOL_PREFIX = "cairn-spool.";
/** Output up to this size comes back in the same round trip as the command and is never left on disk. */
export const SMALL_SPOOL_BYTES = 256 * 1024;

/** A spool already in memory (small output): nothing on the host to remove. */
export function memorySpool(bytes: Uint8Array): Spool {
  return {
    size: bytes.length,
    stream: () => new Blob([bytes as BlobPart]).stream(),
    remove: async () => {},
  };
}

/**
 * Runs `argv` on the host with stdout spooled to a temp file, in one round trip: it answers
 * `DIR SIZE\n`, then the bytes themselves when there are at most SMALL_SPOOL_BYTES (and removes the
 * file); a larger spool stays on the host and is read back in chunks.
 */
export async function captureOnHost(transport: HostTransport, argv: string[]): Promise<Spool> {
  const script = [
    `d=$(mktemp -d ${SPOOL_DIR}/${SPOOL_PREFIX}XXXXXXXX) || exit 125`,
    `${shellCommand(argv)} >"$d/out" || { rc=$?; rm -rf "$d"; exit $rc; }`,
    's=$(stat -c %s "$d/out")',
    `printf '%s %s\\n' "$d" "$s"`,
    `if [ "$s" -le ${SMALL_SPOOL_BYTES} ]; then cat "$d/out"; rm -rf "$d"; fi`,
  ].join("\n");
  const parts: Uint8Array[] = [];
  const r = await transport.exec(["bash", "-c", script], { onStdout: (b) => parts.push(new Uint8Array(b)) });
  if (r.code !== 0) throw new Error(r.stderr.trim() || `the command failed (exit ${r.code})`);
  const all = concatBytes(parts);
  const nl = all.indexOf(10);
  const [dir, sizeText] = new TextDecoder().decode(all.subarray(0, nl)).split(" ");
  const size = Number(sizeText);
  if (!dir.startsWith(`${SPOOL_DIR}/${SPOOL_PREFIX}`) || !Number.isInteger(size))
    throw new Error("unexpected answer from the host while spooling");
  if (size <= SMALL_SPOOL_BYTES) {
    const bytes = all.subarray(nl + 1);
    if (bytes.length !== size) throw new Error(`the host sent ${bytes.length} of ${size} spooled bytes`);
    return memorySpool(bytes);
  }
  return hostSpool(transport, dir, `${dir}/out`, size);
}

/**
 * Runs `argv` on the host with `input` on its stdin: directly when it fits one chunk, else through
 * a temp file written a chunk at a time and removed after.
 */
export async function feedOnHost(
  transport: HostTransport,
  argv: string[],
  input: ReadableStream<Uint8Array>,
): Promise<void> {
  const reader = input.getReader();
  const head: Uint8Array[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < SPOOL_CHUNK_BYTES) {
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      break;
    }
    head.push(value);
    headBytes += value.length;
  }
  const fail = (r: { code: number; stderr: string }) => {
    throw new Error(r.stderr.trim() || `the command failed (exit ${r.code})`);
  };
  if (ended) {
    const r = await transport.exec(argv, { stdin: concatBytes(head) });
    if (r.code !== 0) fail(r);
    return;
  }
  const rest = new ReadableStream<Uint8Array>({
    start(c) {
      for (const h of head) c.enqueue(h);
    },
    async pull(c) {
      const { done, value } = await reader.read();
      if (done) c.close();
      else c.enqueue(value);
    },
  });
  const dir = await makeSpoolDir(transport);
  try {
    await writeSpool(transport, `${dir}/in`, rest);
    const r = await transport.exec(["bash", "-c", `${shellCommand(argv)} <"$1"`, "cairn-feed", `${dir}/in`]);
    if (r.code !== 0) fail(r);
  } finally {
    await removeSpoolDir(transport, dir);
  }
}

/** Makes a 0700 directory for one spool; returns its path. */
export async function makeSpoolDir(transport: HostTransport): Promise<string> {
  const r = await transport.exec(["mktemp", "-d", `${SPOOL_DIR}/${SPOOL_PREFIX}XXXXXXXX`]);
  const dir = r.stdout.trim();
  if (r.code !== 0 || !dir.startsWith(`${SPOOL_DIR}/${SPOOL_PREFIX}`)) {
    throw new Error(`cannot make a spool directory on the host: ${r.stderr.trim()}`);
  }
  return dir;
}

export function removeSpoolDir(transport: HostTransport, dir: string): Promise<void> {
  if (!dir.startsWith(`${SPOOL_DIR}/${SPOOL_PREFIX}`)) return Promise.resolve();
  return transport.exec(["rm", "-rf", "--", dir]).then(() => undefined);
}

/** A spool file `file` (inside `dir`) of `size` bytes on the host. */
export function hostSpool(transport: HostTransport, dir: string, file: string, size: number): Spool {
  let removed: Promise<void> | undefined;
  const remove = () => {
    removed ??= removeSpoolDir(transport, dir);
    return removed;
  };
  return {
    size,
    remove,
    stream() {
      let chunk = 0;
      const blocks = SPOOL_CHUNK_BYTES / (1024 * 1024);
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (chunk * SPOOL_CHUNK_BYTES >= size) return controller.close();
          const parts: Uint8Array[] = [];
          const r = await transport.exec(
            ["dd", `if=${file}`, "bs=1M", `skip=${chunk * blocks}`, `count=${blocks}`, "status=none"],
            { onStdout: (b) => parts.push(new Uint8Array(b)) },
          );
          if (r.code !== 0)
            return controller.error(new Error(`reading ${file} on the host failed: ${r.stderr.trim()}`));
          chunk++;
          for (const p of parts) controller.enqueue(p);
        },
      });
    },
  };
}

/** Appends `input` to `file` on the host, one bounded chunk per round trip. */
export async function writeSpool(
  transport: HostTransport,
  file: string,
  input: ReadableStream<Uint8Array>,
): Promise<number> {
  const reader = input.getReader();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let total = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const block = new Uint8Array(pendingBytes);
    let at = 0;
    for (const p of pending) {
      block.set(p, at);
      at += p.length;
    }
    pending = [];
    pendingBytes = 0;
    const r = await transport.exec(["sh", "-c", 'cat >> "$1"', "cairn-spool", file], { stdin: block });
    if (r.code !== 0) throw new Error(`writing ${file} on the host failed: ${r.stderr.trim()}`);
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending.push(value);
    pendingBytes += value.length;
    total += value.length;
    if (pendingBytes >= SPOOL_CHUNK_BYTES) await flush();
  }
  await flush();
  // An empty input still leaves a file to redirect from.
  if (total === 0) await transport.exec(["touch", file]);
  return total;
}
