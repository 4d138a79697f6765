// `npm run bench:binaries`: the binaries' budgets, measured (docs/perf.md, ## Binaries).
// - size of dist/cairn-server and dist/cairn-builder (budget: under 120 MB each);
// - ready: from spawning `cairn-server serve` on an initialised data dir to the first 200 from
//   /api/v1/health, polled every 2 ms (budget: 500 ms); median and worst of RUNS;
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

const times: number[] = [];
let idle = { server: 0, builder: 0 };
for (let i = 0; i < RUNS; i++) {
  const started = performance.now();
  const child = spawn(server, ["serve"], { env: { ...env, CAIRN_PORT: String(port) }, stdio: "ignore" });
  times.push(await ready(url, started));
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
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
}
rmSync(dir, { recursive: true, force: true });

const sorted = [...times].sort((a, b) => a - b);
console.log(`cairn-server   ${mb(statSync(server).size)}`);
console.log(`cairn-builder  ${mb(statSync(builder).size)}`);
console.log(
  `ready (spawn → health 200), ${RUNS} runs: median ${sorted[Math.floor(RUNS / 2)]!.toFixed(0)} ms, ` +
    `best ${sorted[0]!.toFixed(0)} ms, worst ${sorted[RUNS - 1]!.toFixed(0)} ms`,
);
console.log(
  `idle RSS 3 s after ready, one builder polling: server ${idle.server.toFixed(0)} MB, builder ${idle.builder.toFixed(0)} MB`,
);
