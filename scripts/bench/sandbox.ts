// `bun run bench:sandbox`: how long a job waits for its container (docs/perf.md, ## Sandbox start).
// Start to first step = from the job runner asking for its environment until a first step (`true`)
// has run in the container: image store lookup + lxc-copy/start + one lxc-attach.
// - warm image: the image is cached (resolved moments ago, unpacked); median and worst of RUNS;
// - cairn-base: today's template clone, the same measure without the image store;
// - cold pull: a ~50 MB image from a docker-registry on loopback into an empty store, COLD runs.
// Needs root, lxc, skopeo, umoci, docker-registry and busybox-static. Containers live in a private
// lxcpath, /var/lib/cairn-bench-lxc.
import { execSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLxcDriver } from "../../builder/driver/lxc.ts";
import type { SandboxUser } from "../../builder/driver/types.ts";
import { ImageStore } from "../../builder/images/store.ts";
import { createLocalTransport } from "../../builder/transport/local.ts";
import { ensureBaseTemplate } from "../../tests/harness/lxc.ts";
import { pushImage, registryMissingReason, startRegistry } from "../../tests/support/registry.ts";

const RUNS = Number(process.env.RUNS ?? 20);
const COLD = Number(process.env.COLD ?? 3);
const LXC_PATH = "/var/lib/cairn-bench-lxc";

const missing = registryMissingReason();
if (missing) throw new Error(missing);
await ensureBaseTemplate({ lxcPath: LXC_PATH });
const transport = createLocalTransport();
const driver = createLxcDriver({ transport, lxcPath: LXC_PATH });
const registry = await startRegistry();
const dirs: string[] = [];
const stores: ImageStore[] = [];
const newStore = () => {
  const dir = mkdtempSync(join(tmpdir(), "cairn-bench-images-"));
  dirs.push(dir);
  const s = new ImageStore(
    transport,
    { dir, insecureRegistries: [registry.host], graceSeconds: 0 },
    { lxcPath: LXC_PATH, baseTemplate: "cairn-base" },
  );
  stores.push(s);
  return s;
};
let n = 0;

/** Start to first step, ms: `prepare` gives the template (and user) the clone is made from. */
async function startToFirstStep(prepare: () => Promise<{ template: string; user?: SandboxUser }>) {
  const t0 = performance.now();
  const env = await prepare();
  const sandbox = await driver.create({
    name: `cairn-bench-${process.pid}-${n++}`,
    template: env.template,
    ...(env.user ? { user: env.user } : {}),
  });
  try {
    const code = await sandbox.run({ script: "true", workdir: "/tmp", env: {} }, { onOutput: () => {} });
    if (code !== 0) throw new Error(`the first step failed (exit ${code})`);
    return performance.now() - t0;
  } finally {
    await sandbox.destroy();
  }
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)]!.toFixed(0)} ms, worst ${s.at(-1)!.toFixed(0)} ms (n=${s.length})`;
};

try {
  const small = `${registry.host}/bench/small:1`;
  pushImage(registry.host, "bench/small", "1", { marker: "bench-small" });
  const big = `${registry.host}/bench/big:1`;
  pushImage(registry.host, "bench/big", "1", { marker: "bench-big", padBytes: 48 * 1024 * 1024 });

  const warm = newStore();
  warm.release(await warm.prepare(small)); // pulled and unpacked once; every run below is a cache hit
  const warmMs: number[] = [];
  const baseMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, so both see the same machine.
    warmMs.push(
      await startToFirstStep(async () => {
        const img = await warm.prepare(small);
        warm.release(img);
        return img;
      }),
    );
    baseMs.push(await startToFirstStep(async () => ({ template: "cairn-base" })));
  }
  const coldMs: number[] = [];
  let bytes = 0;
  for (let i = 0; i < COLD; i++) {
    const cold = newStore();
    coldMs.push(
      await startToFirstStep(async () => {
        const img = await cold.prepare(big);
        bytes = img.bytes;
        cold.release(img);
        return img;
      }),
    );
  }
  const load = execSync("cat /proc/loadavg").toString().split(" ").slice(0, 3).join(" ");
  console.log(`machine: ${execSync("nproc").toString().trim()} cores, load average ${load}`);
  console.log(`warm image, start to first step:  ${stats(warmMs)}`);
  console.log(`cairn-base clone, same measure:   ${stats(baseMs)}`);
  console.log(`cold pull of ${(bytes / 1e6).toFixed(1)} MB, start to first step: ${stats(coldMs)}`);
} finally {
  for (const s of stores) await s.collect(0).catch(() => {});
  // Templates a collection could not take (a clone still going away) go with their stores.
  for (const t of readdirSync(LXC_PATH).filter((n) => n.startsWith("cairnimg-"))) {
    const config = readFileSync(join(LXC_PATH, t, "config"), "utf8");
    if (dirs.some((d) => config.includes(d))) rmSync(join(LXC_PATH, t), { recursive: true, force: true });
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await registry.stop();
}
