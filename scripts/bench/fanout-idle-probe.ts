// A second opinion on idle SSE memory: one process opens N idle log streams to one job in batches of
// STEP (env, default 100), with a single pending read each, and prints the server's RSS per
// connection after a full GC. It once disagreed with bench:fanout --idle (30 vs 200 KB): the
// server queued its first bytes before Bun read the body, which costs ~100 KB per connection only
// when connections keep arriving while others are set up (docs/perf.md).
// `BUN_CONFIG_MAX_HTTP_REQUESTS=65535 bun scripts/bench/fanout-idle-probe.ts 10000 log accept`
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireJob, registerSimBuilder } from "../../tests/support/builder-sim.ts";
import { createRepo } from "../../tests/support/git.ts";
import { startServerProcess } from "../../tests/support/server-process.ts";
import { rssBytes } from "./fanout-shared.ts";

const s = await startServerProcess(mkdtempSync(join(tmpdir(), "idl-")), {
  env: { BUN_OPTIONS: `--preload ${import.meta.dir}/gc-on-signal.ts` },
});
const pid = s.child.pid!;
const post = async (p: string, b: unknown) =>
  (await (
    await fetch(`${s.url}${p}`, {
      method: "POST",
      headers: { authorization: `Bearer ${s.token}`, "content-type": "application/json" },
      body: JSON.stringify(b),
    })
  ).json()) as { id: string };
const repo = createRepo();
repo.commit({
  ".circleci/config.yml":
    "version: 2.1\njobs:\n  j:\n    machine: true\n    steps:\n      - run: echo\nworkflows:\n  w:\n    jobs: [j]\n",
});
const project = await post("/api/v1/projects", { name: "p", repo_url: repo.bare });
await post(`/api/v1/projects/${project.id}/pipelines`, { branch: "main" });
const b = await registerSimBuilder(s.url, s.token);
const job = (await acquireJob(b)).job.id;
const hb = setInterval(() => b.heartbeat(job).catch(() => {}), 3000);
const n = Number(process.argv[2] ?? 2000);
const path = process.argv[3] === "events" ? "/api/v1/events" : `/api/v1/jobs/${job}/log/stream`;
await Bun.sleep(500);
process.kill(pid, "SIGUSR2");
await Bun.sleep(1000);
const before = rssBytes(pid);
const readers: unknown[] = [];
const step = Number(process.env.STEP ?? 100);
for (let i = 0; i < n; i += step) {
  await Promise.all(
    Array.from({ length: Math.min(step, n - i) }, async () => {
      const r = await fetch(`${s.url}${path}`, {
        headers: {
          authorization: `Bearer ${s.token}`,
          ...(process.argv[4] ? { accept: "text/event-stream" } : {}),
        },
      });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const rd = r.body!.getReader();
      readers.push(rd);
      void rd.read();
    }),
  );
}
await Bun.sleep(2000);
process.kill(pid, "SIGUSR2");
await Bun.sleep(1500);
const after = rssBytes(pid);
console.log(
  `${path.slice(0, 20)}: ${n} conns, per conn ${((after - before) / 1024 / n).toFixed(1)} KB (before ${(before / 2 ** 20).toFixed(0)} MB, after ${(after / 2 ** 20).toFixed(0)} MB)`,
);
clearInterval(hb);
await s.stop();
process.exit(0);
