// Sandbox.capture/feed and the host spool they pass through: the process driver for real, and the
// host spool over the local transport (the same code the LXC driver runs over ssh), with bytes
// larger than one spool chunk so the chunked reads and writes are exercised.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalTransport } from "../transport/local.ts";
import { createProcessDriver } from "./process.ts";
import {
  captureOnHost,
  feedOnHost,
  hostSpool,
  makeSpoolDir,
  SMALL_SPOOL_BYTES,
  SPOOL_CHUNK_BYTES,
  SPOOL_DIR,
  SPOOL_PREFIX,
  writeSpool,
} from "./spool.ts";
import type { HostTransport, Sandbox } from "./types.ts";

const big = new Uint8Array(SPOOL_CHUNK_BYTES * 2 + 12345).map((_, i) => (i * 31 + (i >> 11)) % 256);
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const streamOf = (b: Uint8Array, piece = 100_000) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < b.length; i += piece) c.enqueue(b.subarray(i, i + piece));
      c.close();
    },
  });
const bytesOf = async (s: ReadableStream<Uint8Array>) => new Uint8Array(await new Response(s).arrayBuffer());

describe("host spool over the local transport", () => {
  const transport = createLocalTransport();

  test("written and read back in chunks, byte for byte; removed after", async () => {
    const dir = await makeSpoolDir(transport);
    expect(dir.startsWith(`${SPOOL_DIR}/${SPOOL_PREFIX}`)).toBe(true);
    const file = `${dir}/data`;
    expect(await writeSpool(transport, file, streamOf(big))).toBe(big.length);
    const spool = hostSpool(transport, dir, file, big.length);
    expect(sha(await bytesOf(spool.stream()))).toBe(sha(big));
    await spool.remove();
    await spool.remove();
    expect(existsSync(dir)).toBe(false);
  });

  test("an empty spool reads as nothing", async () => {
    const dir = await makeSpoolDir(transport);
    expect(await writeSpool(transport, `${dir}/e`, streamOf(new Uint8Array(0)))).toBe(0);
    const spool = hostSpool(transport, dir, `${dir}/e`, 0);
    expect((await bytesOf(spool.stream())).length).toBe(0);
    await spool.remove();
  });
});

describe("capture and feed on the host (what the LXC driver wraps around lxc-attach)", () => {
  // The spool names this file's calls make carry its own mark, so the spools other processes make
  // meanwhile in the same /var/tmp (CI's other lanes run jobs) are not counted as this test's.
  const local = createLocalTransport();
  const mark = `${SPOOL_PREFIX}t${process.pid}-`;
  const template = `${SPOOL_DIR}/${SPOOL_PREFIX}XXXXXXXX`;
  const transport: HostTransport = {
    ...local,
    exec: (argv, opts) =>
      local.exec(
        argv.map((a) => a.replaceAll(template, `${SPOOL_DIR}/${mark}XXXXXXXX`)),
        opts,
      ),
  };
  const spools = () =>
    readdirSync(SPOOL_DIR)
      .filter((n) => n.startsWith(mark))
      .sort();
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "cairn-feed-test-"));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test("the mark reaches every spool this file makes", async () => {
    const spool = await captureOnHost(transport, ["head", "-c", String(SMALL_SPOOL_BYTES + 1), "/dev/zero"]);
    expect(spools().length).toBe(1);
    await spool.remove();
    expect(spools()).toEqual([]);
  });

  test("small output comes back in the same round trip and leaves nothing on disk", async () => {
    const before = spools();
    const spool = await captureOnHost(transport, ["printf", "a\\0b"]);
    expect(spool.size).toBe(3);
    expect([...(await bytesOf(spool.stream()))]).toEqual([97, 0, 98]);
    expect(spools()).toEqual(before);
  });

  test("large output stays on the host until read and removed", async () => {
    const before = spools();
    await feedOnHost(transport, ["sh", "-c", 'cat >"$1"', "x", join(work, "big")], streamOf(big));
    expect(spools()).toEqual(before); // the input spool is gone too
    const spool = await captureOnHost(transport, ["cat", join(work, "big")]);
    expect(spool.size).toBe(big.length);
    expect(spool.size).toBeGreaterThan(SMALL_SPOOL_BYTES);
    expect(spools().length).toBe(before.length + 1);
    expect(sha(await bytesOf(spool.stream()))).toBe(sha(big));
    await spool.remove();
    expect(spools()).toEqual(before);
  });

  test("small input goes straight to stdin; failures carry stderr and leave no spool", async () => {
    const before = spools();
    await feedOnHost(
      transport,
      ["sh", "-c", 'cat >"$1"', "x", join(work, "small")],
      streamOf(new TextEncoder().encode("tiny")),
    );
    expect(await Bun.file(join(work, "small")).text()).toBe("tiny");
    await expect(captureOnHost(transport, ["sh", "-c", "echo broken >&2; exit 7"])).rejects.toThrow("broken");
    await expect(
      feedOnHost(transport, ["sh", "-c", "cat >/dev/null; echo refused >&2; exit 9"], streamOf(big)),
    ).rejects.toThrow("refused");
    expect(spools()).toEqual(before);
  });
});

describe("process driver capture and feed", () => {
  let base: string;
  let sandbox: Sandbox;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), "cairn-spool-test-"));
    const driver = createProcessDriver({ baseDir: base, isolation: "none" });
    sandbox = await driver.create({ name: "spool-1" });
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  test("feed writes into the sandbox, capture reads it back; absolute paths are sandbox paths", async () => {
    await sandbox.feed('mkdir -p "$1" && cat >"$1/blob"', ["/root/data"], streamOf(big));
    const spool = await sandbox.capture('cat "$1/blob"', ["/root/data"]);
    expect(spool.size).toBe(big.length);
    expect(sha(await bytesOf(spool.stream()))).toBe(sha(big));
    await spool.remove();
    // `~` is the sandbox's home, which is where the script starts.
    const home = await sandbox.capture('pwd; cd "$1" && ls', ["~/data"]);
    const text = new TextDecoder().decode(await bytesOf(home.stream()));
    await home.remove();
    expect(text).toContain(`${base}/cairn-spool-1/root\n`);
    expect(text).toContain("blob");
  });

  test("a failing script throws with its stderr and leaves no spool", async () => {
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith("cairn-spool.")).length;
    await expect(sandbox.capture('echo "no such thing: $1" >&2; exit 3', ["x"])).rejects.toThrow(
      "no such thing: x",
    );
    await expect(sandbox.feed("exit 4", [], streamOf(new Uint8Array(10)))).rejects.toThrow(/exit 4/);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith("cairn-spool.")).length).toBe(before);
  });
});
