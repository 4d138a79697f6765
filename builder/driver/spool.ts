// Temp files on the fleet host that archives pass through between a sandbox and the builder's HTTP
// transfers: written and read in bounded chunks over the host transport (ssh or local), so a large
// tree is never whole in the builder's memory and an upload knows its Content-Length up front.
import type { HostTransport, Spool } from "./types.ts";

/** Bytes per transport round trip when reading or writing a spool. */
export const SPOOL_CHUNK_BYTES = 4 * 1024 * 1024;
/** Where spools live on the host: on disk (archives can be larger than a tmpfs /tmp). */
export const SPOOL_DIR = "/var/tmp";
export const SPOOL_PREFIX = "cairn-spool.";

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
          if (r.code !== 0) return controller.error(new Error(`reading ${file} on the host failed: ${r.stderr.trim()}`));
          chunk++;
          for (const p of parts) controller.enqueue(p);
        },
      });
    },
  };
}

/** Appends `input` to `file` on the host, one bounded chunk per round trip. */
export async function writeSpool(transport: HostTransport, file: string, input: ReadableStream<Uint8Array>): Promise<number> {
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
