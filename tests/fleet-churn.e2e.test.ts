// 50 jobs in a row on a real LXC builder (3 slots, through a real sshd) leave no container and no
// growth on the fleet host: the builder's lxcpath, the spools under /var/tmp and the checkout temp
// dirs under /tmp are measured after a warm-up and again after the 50 jobs. The deadline for the 50
// is derived from the warm-up's own time, so a slow machine gets a proportionally later one.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { SPOOL_DIR, SPOOL_PREFIX } from "../builder/driver/spool.ts";
import { cairnContainers, requireLxc, TEMPLATE, testLxcPath } from "./harness/lxc.ts";
import type { TestRepo } from "./support/git.ts";
import { type LxcStack, startLxcStack } from "./support/lxc-stack.ts";
import type { TestServer } from "./support/server.ts";

const skip = await requireLxc({ sshd: true });
const JOBS = 50;
const SLOTS = 3;
const WARM = 3;

/**
 * A workflow of `n` independent trivial jobs, each storing an artifact (a spool on the host); every
 * fifth also checks out (a temp clone on the host), which is what makes a job slow.
 */
function config(n: number): string {
  const steps = (i: number) =>
    `    machine: true\n    steps:\n${i % 5 === 0 ? "      - checkout\n" : ""}      - run: echo ok > done.txt\n      - store_artifacts: {path: done.txt}\n`;
  const names = Array.from({ length: n }, (_, i) => `j${i + 1}`);
  return `version: 2.1\njobs:\n${names.map((n, i) => `  ${n}:\n${steps(i)}`).join("")}workflows:\n  churn:\n    jobs: [${names.join(", ")}]\n`;
}

/** Container name of a job's first attempt (builder/job-runner.ts). */
const containerOf = (jobId: string) => `cairn-${jobId.slice(0, 8)}-1`;

/** KiB used in the builder's lxcpath by the template and by any container of ours. */
function lxcUsage(ours: Set<string>): number {
  const dir = testLxcPath();
  let kib = 0;
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith("cairn-") && entry !== TEMPLATE && !ours.has(entry)) continue;
    kib += Number(execFileSync("du", ["-sxk", join(dir, entry)], { encoding: "utf8" }).split("\t")[0]);
  }
  return kib;
}

/** Spool and checkout temp dirs on the host; other runs on this machine make (and remove) them too. */
const tempDirs = () =>
  new Set([
    ...readdirSync(SPOOL_DIR)
      .filter((n) => n.startsWith(SPOOL_PREFIX))
      .map((n) => join(SPOOL_DIR, n)),
    ...readdirSync("/tmp")
      .filter((n) => n.startsWith("cairn-checkout-") || n.startsWith("cairn-key-"))
      .map((n) => join("/tmp", n)),
  ]);

/** Job states by count, and the unfinished jobs by name: what a timeout reports. */
function describeJobs(jobs: { name?: string; status: string }[]): string {
  const counts: Record<string, number> = {};
  for (const j of jobs) counts[j.status] = (counts[j.status] ?? 0) + 1;
  const open = jobs.filter((j) => !["success", "failed", "canceled"].includes(j.status));
  return `${JSON.stringify(counts)}; unfinished: ${open.map((j) => `${j.name}=${j.status}`).join(", ") || "none"}`;
}

describe.skipIf(skip)("fleet churn", () => {
  let server: TestServer;
  let repo: TestRepo;
  let projectId: string;

  let stack: LxcStack;

  beforeAll(async () => {
    stack = await startLxcStack({
      files: { ".circleci/config.yml": config(3) },
      project: "churn",
      builder: { name: "churner", slots: SLOTS },
    });
    ({ server, repo, projectId } = stack);
  });

  afterAll(() => stack?.stop());

  /** Runs a workflow of `n` jobs to its end; past `deadlineS` it fails saying what the jobs were doing. */
  async function runWorkflow(
    n: number,
    deadlineS: number,
  ): Promise<{ id: string; name: string; status: string }[]> {
    repo.commit({ ".circleci/config.yml": config(n) });
    const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const end = Date.now() + deadlineS * 1000;
    for (;;) {
      const p = (await (await server.api(`/api/v1/pipelines/${id}`)).json()) as {
        status: string;
        jobs: { id: string; name: string; status: string }[];
      };
      if (["success", "failed", "canceled"].includes(p.status)) return p.jobs;
      if (Date.now() > end)
        throw new Error(
          `waited ${deadlineS} s for pipeline ${id} (${n} jobs) to finish; it is still ${p.status}, jobs: ${describeJobs(p.jobs)}\nbuilder log (tail):\n${stack.builder.output().slice(-3000)}`,
        );
      await Bun.sleep(250);
    }
  }

  test(`${JOBS} jobs in a row leave zero cairn-* containers and no growth in the host's disk use`, async () => {
    // Warm-up: whatever a first job creates once (LXC's own state) is not churn. Its time, one
    // round of SLOTS jobs at once, sets the deadline for the rest: five times the rounds it needs.
    const warmStarted = Date.now();
    const warm = await runWorkflow(WARM, 300);
    expect(warm.map((j) => j.status)).toEqual(warm.map(() => "success"));
    const round = (Date.now() - warmStarted) / 1000;
    const deadline = Math.min(1_700, Math.ceil(60 + 5 * round * Math.ceil(JOBS / SLOTS)));
    const baseline = { lxc: lxcUsage(new Set()), temp: tempDirs() };

    const started = Date.now();
    const jobs = await runWorkflow(JOBS, deadline);
    const seconds = (Date.now() - started) / 1000;
    expect(jobs.length).toBe(JOBS);
    const failed = jobs.filter((j) => j.status !== "success");
    expect(
      failed,
      failed.length ? await (await server.api(`/api/v1/jobs/${failed[0].id}/log?format=text`)).text() : "",
    ).toEqual([]);

    const ours = new Set(jobs.map((j) => containerOf(j.id)));
    const left = (await cairnContainers()).filter((n) => ours.has(n));
    expect(left).toEqual([]);
    const after = lxcUsage(ours);
    // Temp dirs made since the baseline that are still there: ours, or another run's in flight,
    // which goes once its job ends. Ours would stay; wait (60 s at most) for the others to go.
    const added = () => [...tempDirs()].filter((d) => !baseline.temp.has(d));
    for (let i = 0; i < 240 && added().length; i++) await Bun.sleep(250);
    console.log(
      `churn: ${JOBS} jobs in ${seconds.toFixed(1)} s (deadline ${deadline} s from a ${round.toFixed(1)} s warm-up); lxcpath ${baseline.lxc} → ${after} KiB; temp dirs left: ${added().length}`,
    );
    // No per-job growth: 50 jobs may not add even 4 KiB each (a clone's overlay alone is far more).
    expect(after - baseline.lxc).toBeLessThan(JOBS * 4);
    expect(added()).toEqual([]);

    // Every job stored its artifact (the spool path ran 50 times).
    const arts = (await (await server.api(`/api/v1/jobs/${jobs[JOBS - 1].id}/artifacts`)).json()) as {
      items: { path: string }[];
    };
    expect(arts.items.map((a) => a.path)).toEqual(["done.txt"]);
  }, 1_800_000); // a safety net only: the warm-up-derived deadline above fails first, saying why
});
