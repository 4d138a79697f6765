// `npm run bench:binaries`: the binaries' budgets, measured (docs/perf.md, ## Binaries).
// - size of dist/cairn-server and dist/cairn-builder (budget: under 120 MB each);
// - ready: from spawning `cairn-server serve` on an initialised data dir to the first 200 from
//   /api/v1/health, polled every 2 ms (budget: 300 ms); median and worst of RUNS, with the CPU time
//   (user + system, all threads) the server had used when it answered;
// - with BASELINE=<another cairn-server>, that binary is started as often, interleaved (the order
//   alternates), on a data dir of its own, and the ratios of the medians are printed: a comparison
//   that holds on a machine others load too;
// - idle RSS (VmRSS) of the server 3 s after ready with a builder polling it, and of that builder
//   (budget for the server: 100 MB).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "../build.ts";

const RUNS = Number(process.env.RUNS ?? 7);

const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB (${(bytes / 2 ** 20).toFixed(1)} MiB)`;

/** CPU time (user + system, ms) of a process so far, from /proc/PID/stat (clock ticks of 10 ms). */
const cpuMs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function ready(url: string, started: number, timeoutMs = 10_000): Promise<number> {
  while (performance.now() - started < timeoutMs) {
    try {
      if ((await fetch(`${url}/api/v1/health`)).status === 200) return performance.now() - started;
    } catch {}
    await Bun.sleep(2);
  }
  throw new Error("server not ready in time");
}

const { server, builder } = await build({ quiet: true });
const dir = mkdtempSync(join(tmpdir(), "cairn-bench-bin-"));
const env = { PATH: "/usr/bin:/bin", HOME: dir, CAIRN_DATA_DIR: join(dir, "data"), CAIRN_HOST: "127.0.0.1" };
const port = 20_000 + Math.floor(Math.random() * 20_000);
const url = `http://127.0.0.1:${port}`;
Bun.spawnSync([server, "init"], { env });
const baseline = process.env.BASELINE;
const baseEnv = { ...env, HOME: join(dir, "base"), CAIRN_DATA_DIR: join(dir, "base", "data") };
if (baseline) Bun.spawnSync([baseline, "init"], { env: baseEnv });

/** One start of `serve`: spawn → first health 200, and the CPU time used by then; the process is left running. */
async function start(binary: string, env: Record<string, string>) {
  const started = performance.now();
  const child = spawn(binary, ["serve"], { env: { ...env, CAIRN_PORT: String(port) }, stdio: "ignore" });
  const ms = await ready(url, started);
  return { child, ms, cpu: cpuMs(child.pid!) };
}
const stop = async (child: ReturnType<typeof spawn>) => {
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
};

const times: number[] = [];
const cpu: number[] = [];
const base = { times: [] as number[], cpu: [] as number[] };
let idle = { server: 0, builder: 0 };
for (let i = 0; i < RUNS; i++) {
  if (baseline && i % 2 === 0) {
    const b = await start(baseline, baseEnv);
    base.times.push(b.ms);
    base.cpu.push(b.cpu);
    await stop(b.child);
  }
  const { child, ms, cpu: used } = await start(server, env);
  times.push(ms);
  cpu.push(used);
  if (i === RUNS - 1) {
    // One builder polling (long polls of 20 s), as an idle install has.
    const token = readFileSync(join(env.CAIRN_DATA_DIR, "initial-admin-token"), "utf8").trim();
    const reg = (await (
      await fetch(`${url}/api/v1/builders/registration-tokens`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
      })
    ).json()) as { token: string };
    const cfg = join(dir, "builder.json");
    Bun.spawnSync(
      [builder, "register", "--server", url, "--token", reg.token, "--config", cfg, "--driver", "process"],
      { env },
    );
    const b = spawn(builder, ["run", "--config", cfg], { env, stdio: "ignore" });
    await Bun.sleep(3000);
    idle = { server: rssMb(child.pid!), builder: rssMb(b.pid!) };
    b.kill("SIGTERM");
    await new Promise((r) => b.once("exit", r));
  }
  await stop(child);
  if (baseline && i % 2 === 1) {
    const b = await start(baseline, baseEnv);
    base.times.push(b.ms);
    base.cpu.push(b.cpu);
    await stop(b.child);
  }
}
rmSync(dir, { recursive: true, force: true });

const sorted = [...times].sort((a, b) => a - b);
console.log(`cairn-server   ${mb(statSync(server).size)}`);
console.log(`cairn-builder  ${mb(statSync(builder).size)}`);
console.log(
  `ready (spawn → health 200), ${RUNS} runs: median ${median(times).toFixed(0)} ms, ` +
    `best ${sorted[0]!.toFixed(0)} ms, worst ${sorted[RUNS - 1]!.toFixed(0)} ms`,
);
console.log(`  CPU time used by then: median ${median(cpu).toFixed(0)} ms`);
if (baseline) {
  const bs = [...base.times].sort((a, b) => a - b);
  console.log(
    `BASELINE ${baseline}, ${RUNS} runs interleaved: median ${median(base.times).toFixed(0)} ms ` +
      `(${bs[0]!.toFixed(0)}–${bs[RUNS - 1]!.toFixed(0)} ms), CPU ${median(base.cpu).toFixed(0)} ms; ` +
      `this build / baseline: ready ${(median(times) / median(base.times)).toFixed(2)}×, ` +
      `CPU ${(median(cpu) / median(base.cpu)).toFixed(2)}×`,
  );
}
console.log(
  `idle RSS 3 s after ready, one builder polling: server ${idle.server.toFixed(0)} MB, builder ${idle.builder.toFixed(0)} MB`,
);
